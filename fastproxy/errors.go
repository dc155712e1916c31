package fastproxy

import "github.com/valyala/fasthttp"

// writeError answers the client with status and a short plain-text body,
// replacing whatever the response held. It is the one place error answers
// are written, so every error looks the same to clients.
func writeError(ctx *fasthttp.RequestCtx, status int, msg string) {
	ctx.Response.Reset()
	ctx.Response.SetStatusCode(status)
	ctx.Response.Header.SetContentType("text/plain; charset=utf-8")
	ctx.Response.SetBodyString(msg)
	ctx.Response.AppendBodyString("\n")
}
