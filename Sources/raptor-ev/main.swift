import Raptor

// The raptor-ev binary is the command line with no handler: `serve` serves static files.
RaptorCommandLine.main()
