package fastproxy

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"strings"

	"github.com/valyala/fasthttp"
)

// edgeErrorHandler is fasthttp's ErrorHandler: it answers a request fasthttp
// could not read. fasthttp closes the connection after it, which strict
// framing requires: where a malformed request ends is unknown.
func edgeErrorHandler(ctx *fasthttp.RequestCtx, err error) {
	status := edgeErrorStatus(err)
	if c := edgeConnOf(ctx.Conn()); status == fasthttp.StatusRequestHeaderFieldsTooLarge && c != nil && !c.lineEnded {
		// The request line alone did not fit: the target is too long
		// (RFC 9112, Section 3), as nginx answers it.
		status = fasthttp.StatusRequestURITooLong
	}
	writeError(ctx, status, fasthttp.StatusMessage(status))
}

// edgeErrorStatus maps a fasthttp read error to its answer: 431 for a head
// larger than max_header_bytes (edgeErrorHandler makes it 414 when the
// request line is what did not fit), 413 for a body over the limit, 408 when
// the client was too slow, and 400 for everything malformed.
func edgeErrorStatus(err error) int {
	var small *fasthttp.ErrSmallBuffer
	var ne net.Error
	switch {
	case errors.As(err, &small):
		return fasthttp.StatusRequestHeaderFieldsTooLarge
	case errors.Is(err, fasthttp.ErrBodyTooLarge):
		return fasthttp.StatusRequestEntityTooLarge
	case errors.As(err, &ne) && ne.Timeout():
		return fasthttp.StatusRequestTimeout
	}
	return fasthttp.StatusBadRequest
}

// edgeFastLogger sends fasthttp's messages to slog. Errors reading a
// client's request are the client's doing and frequent on the open
// internet, and fasthttp warns on every Request.Body() of a streamed body
// (which the proxy does on purpose to hold small bodies for retries), so
// those go to Debug; anything else (accept errors, worker limits) is an
// operator's concern and goes to Warn.
type edgeFastLogger struct{ log *slog.Logger }

// edgeQuietPrefixes start the fasthttp messages logged at Debug.
var edgeQuietPrefixes = []string{
	"error when serving connection",
	"WARNING: Request.Body() reads the entire stream",
}

// Printf logs one fasthttp message.
func (l edgeFastLogger) Printf(format string, args ...any) {
	level := slog.LevelWarn
	for _, p := range edgeQuietPrefixes {
		if strings.HasPrefix(format, p) {
			level = slog.LevelDebug
			break
		}
	}
	if !l.log.Enabled(context.Background(), level) {
		return
	}
	l.log.Log(context.Background(), level, "fasthttp: "+fmt.Sprintf(format, args...))
}
