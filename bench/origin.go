package bench

import (
	"bytes"
	"strconv"

	"github.com/valyala/fasthttp"
)

// Sizes of the bodies Origin serves.
const (
	// SmallSize is the body of the small case: a typical tiny API answer.
	SmallSize = 12
	// MediumSize is the body of the 16 KiB case: a typical page or JSON list.
	MediumSize = 16 << 10
	// LargeSize is the body of the 1 MiB case: a download, where copying dominates.
	LargeSize = 1 << 20
)

// Bodies are built once at start-up so serving them costs no allocation.
var (
	smallBody  = []byte("hello world\n")
	mediumBody = fill(MediumSize)
	largeBody  = fill(LargeSize)
)

// fill returns n bytes of printable text, so a truncated or shifted body
// shows up in a comparison.
func fill(n int) []byte {
	const alphabet = "abcdefghijklmnopqrstuvwxyz0123456789\n"
	b := make([]byte, n)
	for i := range b {
		b[i] = alphabet[i%len(alphabet)]
	}
	return b
}

// Origin is the backend of every benchmark case. It answers by the last
// segment of the path, so a path routed through any location prefix still
// reaches the same answer (the routing setup relies on this):
//
//	…/small    200, 12 bytes ("hello world\n")
//	…/16k      200, 16 KiB of text
//	…/1m       200, 1 MiB of text
//	…/post     200, the request body's length in decimal (the body is read whole)
//	…/headers  200, the request headers as received, one per line (for tests)
//	otherwise  404
//
// Every answer carries "X-Origin: bench". Origin allocates nothing per
// request once warm, except for …/headers. It is safe for concurrent use.
func Origin(ctx *fasthttp.RequestCtx) {
	path := ctx.Path()
	last := path[bytes.LastIndexByte(path, '/')+1:]
	ctx.Response.Header.Set("X-Origin", "bench")
	switch string(last) {
	case "small":
		ctx.SetBody(smallBody)
	case "16k":
		ctx.SetBody(mediumBody)
	case "1m":
		ctx.SetBody(largeBody)
	case "post":
		var n [20]byte // SetBody copies, so the digits can live on the stack
		ctx.SetBody(strconv.AppendInt(n[:0], int64(len(ctx.PostBody())), 10))
	case "headers":
		ctx.SetBody(ctx.Request.Header.Header())
	default:
		ctx.SetStatusCode(fasthttp.StatusNotFound)
	}
}
