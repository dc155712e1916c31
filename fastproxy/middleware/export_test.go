package middleware

// Exported names for the external tests (package middleware_test), which
// import fastproxy and so cannot live in package middleware.

// BigText is a compressible body well above the compression threshold.
var BigText = bigText

// Fetch and Decoder are the helpers of the package's own tests.
var (
	Fetch   = fetch
	Decoder = decoder
)

// StreamGate, NewStreamGate and ReadStreamed drive a streamed-body test
// (see streamGate).
type StreamGate = streamGate

var (
	NewStreamGate = newStreamGate
	ReadStreamed  = readStreamed
)
