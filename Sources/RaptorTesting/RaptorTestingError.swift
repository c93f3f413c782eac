/// Why a test client or server could not do what it was asked.
public enum RaptorTestingError: Error, CustomStringConvertible, Equatable {
    /// Nothing (or not enough) came within the client's timeout.
    case timedOut(waitingFor: String)
    /// The server closed the connection before a whole response.
    case closedBeforeResponse(received: Int)
    /// The bytes read are not an HTTP/1.1 response.
    case malformedResponse(String)
    /// A system call failed.
    case system(call: String, errno: Int32)
    /// An address `TestServer` cannot serve (only plain `tcp://` addresses).
    case unsupportedBind(String)

    public var description: String {
        switch self {
        case .timedOut(let what): "timed out waiting for \(what)"
        case .closedBeforeResponse(let received):
            "the server closed the connection before a whole response (\(received) bytes received)"
        case .malformedResponse(let why): "malformed response: \(why)"
        case .system(let call, let code): "\(call) failed: errno \(code)"
        case .unsupportedBind(let bind): "TestServer serves plain tcp:// addresses only, not \(bind)"
        }
    }
}
