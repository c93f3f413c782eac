// A small application on Raptor's public API, with the whole raptor-ev command line.
// The tests use it for what the static-file default cannot show (echoing a body, slow,
// throwing and streaming handlers), the benchmarks for `GET /` (13 bytes), and it is the
// proof that the public API is enough to write a real application.
import Raptor

#if canImport(Glibc)
    import Glibc
#endif

RaptorCommandLine.main(handler: TestApplication.respond, hooks: TestApplication.hooks)
