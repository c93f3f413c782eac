/// The long help of `serve`: what the flag list cannot say. Kept under 80 columns, as
/// ArgumentParser prints it as written.
enum ServeHelp {
    static let discussion = """
        Serves the program's own handler, or, for the raptor-ev binary, the static
        files of <dir>. Invalid flags are reported before anything binds.

        Processes: with --workers N (default: one per CPU) a master binds the
        listeners, forks N workers and supervises them: a dead worker is respawned
        (with backoff if it keeps dying young), a hung one (no heartbeat for
        --worker-timeout) is killed and replaced. --workers 0 or --single serves in
        one process, where only INT and TERM apply.

        Signals (send them to the master process):
          INT, TERM   Graceful stop (after --drain-delay: not ready, still serving):
                      stop accepting, let requests in flight finish (up to
                      --shutdown-timeout, then SIGKILL), then exit 0. A keep-alive
                      connection gets its next answer with Connection: close, or is
                      closed once idle for --shutdown-idle-grace: no request on it is
                      lost.
          USR1        Log every worker's stats, one line each.
          USR2        Phased restart: replace the workers one at a time, each after
                      its replacement booted (no request lost).
          HUP         Hot restart: re-execute the binary (a new build, new flags) with
                      the same pid and listening sockets, once the new build passed
                      --check-config; old workers drain.
          TTIN, TTOU  One worker more, one worker fewer.
        Workers ignore USR1, USR2, HUP, TTIN and TTOU.

        Bind URLs (--bind, repeatable; each address is one listener):
          tcp://HOST:PORT      tcp://0.0.0.0:9292, tcp://127.0.0.1:8080,
                               tcp://localhost:80 (a name or a numeric address)
          tcp://[IPV6]:PORT    tcp://[::]:9292, tcp://[::1]:8080
          ssl://HOST:PORT      HTTPS with --tls-cert/--tls-key, or with its own
                               certificate: ssl://0.0.0.0:9443?cert=PATH&key=PATH
                               (cert= and key= repeatable; cert= may name a
                               directory of NAME.crt and NAME.key pairs)
          unix:///PATH         unix:///run/app.sock (absolute, under 108 bytes)
          ...?proxy_protocol=v1|v2|optional
                               a PROXY protocol header from the load balancer
                               starts each connection (trusted: --trusted-proxies;
                               on ssl://, in the clear before the TLS handshake)

        TLS: TLS 1.2 and 1.3, forward-secret AEAD ciphers, ECDHE with X25519 or
        P-256, ALPN h2 then http/1.1. A plain HTTP request on an ssl:// address gets
        a 400 and the connection closes. Session tickets let a client resume on any
        worker; their key is made by the master, kept in memory only, and
        replaced every --tls-ticket-rotation. USR2 and HUP load renewed
        certificates; ones that fail to load leave the workers serving.

        Sizes (<size>): a byte count, or a number and a unit, case-insensitive:
          1048576, 512k, 16m, 1g, 1.5m, 64KiB, 16MiB, 1GiB, 64KB, 16MB
          Every unit is a power of 1024: k = KB = KiB = 1024 bytes, m = MB = MiB =
          1048576 bytes, g = GB = GiB, t = TB = TiB.

        Durations (<duration>): seconds, or a number and a unit:
          30, 30s, 500ms, 1.5s, 2m, 1h

        Static files (<dir>, the raptor-ev binary): ETag and Last-Modified with
        conditional requests, byte ranges, precompressed x.br/x.zst/x.gz siblings,
        an open-file cache per worker (a change on disk is seen within a second).
        Names starting with '.' are 404 except /.well-known/ (see --dotfiles).
        Files are served on the event loop, as nginx and h2o serve them; --threads N
        moves them to N app threads, for a disk that can block (a network file
        system).

        Logs go to standard error, one line per event (see --log-format); the access
        log goes to standard output. Exit status: 0 after a graceful stop, 64 for an
        invalid flag or value, 1 when the server cannot run (a bind fails, say).
        """
}
