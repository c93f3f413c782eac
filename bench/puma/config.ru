# Rack app for bench/run.sh (Puma): GET / answers "Hello, World!" (text/plain); POST /post
# reads the whole body and answers the same; any other path is a file of $BENCH_STATIC_DIR
# (Rack::Files, from Debian's ruby-rack).
require "rack/files"
hello = [200, { "content-type" => "text/plain", "content-length" => "13" }, ["Hello, World!"].freeze].freeze
files = Rack::Files.new(ENV.fetch("BENCH_STATIC_DIR", Dir.pwd))
run(lambda do |env|
  case env["PATH_INFO"]
  when "/" then hello
  when "/post" then env["rack.input"].read; hello
  else files.call(env)
  end
end)
