// A small application on Raptor's public API, with the whole raptor-ev command line.
// The tests use it for what the static-file default cannot show (echoing a body, slow,
// throwing and streaming handlers), the benchmarks for `GET /` (13 bytes), and it is the
// proof that the public API is enough to write a real application.
//
// Environment: RAPTOR_TESTAPP_APPLICATION=per-worker builds the application in each worker
// (PerWorkerApplication), =async serves an async handler (AsyncApplication; with
// RAPTOR_TESTAPP_BODIES=streamed, its request bodies arrive while it runs);
// RAPTOR_TESTAPP_BEFORE_RUN=task starts a Task before the server
// runs, the mistake the fork guard refuses.
import Raptor

if TestApplication.environment("RAPTOR_TESTAPP_BEFORE_RUN") == "task" { TestApplication.startTaskBeforeRun() }
if TestApplication.environment("RAPTOR_TESTAPP_APPLICATION") == "per-worker" {
    RaptorCommandLine.main(hooks: TestApplication.hooks, perWorker: PerWorkerApplication.make)
}
if TestApplication.environment("RAPTOR_TESTAPP_APPLICATION") == "async" {
    // RAPTOR_TESTAPP_BODIES=streamed: request bodies reach the handler as they arrive.
    let bodies: Responder.BodyDelivery =
        TestApplication.environment("RAPTOR_TESTAPP_BODIES") == "streamed" ? .streamed : .whole
    RaptorCommandLine.main(responder: .async(bodies: bodies, AsyncApplication.respond), hooks: TestApplication.hooks)
}
RaptorCommandLine.main(handler: TestApplication.respond, hooks: TestApplication.hooks)
