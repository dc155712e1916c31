package balancer

import (
	"bytes"
	"testing"
	"time"

	"github.com/valyala/fasthttp"
)

// FuzzPickWithClientControlledKeys feeds arbitrary header, cookie and path
// values, which clients control, to the policies that read them: every
// pick succeeds, and a sticky cookie only pins a backend when it is that
// backend's exact value.
func FuzzPickWithClientControlledKeys(f *testing.F) {
	f.Add("user-1", "sid-1", "/a/b", "")
	f.Add("", "", "/", "AAAAAAAAAAAAAAAAAAAAAA")
	f.Add("\x00\xff", "a=b; c", "/%2F..", "spillway_sticky")
	policies := []*Pool{}
	for _, o := range []Options{
		{Policy: "consistent-hash", HashKey: "header:X-User"},
		{Policy: "consistent-hash", HashKey: "cookie:sid"},
		{Policy: "consistent-hash", HashKey: "path"},
		{Policy: "sticky-session"},
	} {
		policies = append(policies, mustPool(f, testBackends(1, 2, 3), o))
	}
	f.Fuzz(func(t *testing.T, user, sid, path, sticky string) {
		var ctx fasthttp.RequestCtx
		ctx.Request.Header.Set("X-User", user)
		ctx.Request.Header.SetCookie("sid", sid)
		ctx.Request.Header.SetCookie(DefaultStickyCookie, sticky)
		ctx.Request.SetRequestURI(path)
		for _, p := range policies {
			b, err := p.Pick(&Request{Ctx: &ctx})
			if err != nil {
				t.Fatal(err)
			}
			p.Done(b, Success, time.Millisecond)
		}
		v := ctx.Request.Header.Cookie(DefaultStickyCookie)
		for _, b := range policies[3].Backends() {
			if b.owns(v) != bytes.Equal(v, b.token) {
				t.Fatalf("cookie %q: owns disagrees with equality for %s", v, b.Addr)
			}
		}
	})
}
