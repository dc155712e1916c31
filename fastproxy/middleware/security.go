package middleware

import (
	"strconv"
	"strings"

	"github.com/spillway-lb/spillway/configs"
	"github.com/valyala/fasthttp"
)

// defaultHSTSMaxAge is one year, the minimum the HSTS preload list accepts.
const defaultHSTSMaxAge = 365 * 24 * 60 * 60

// security sets security response headers, replacing any the backend sent
// so the policy holds for every answer of the service.
type security struct {
	hsts         string // Strict-Transport-Security; "" when off
	frameOptions string // X-Frame-Options; "" when not configured
	nosniff      bool   // X-Content-Type-Options: nosniff
	xss          bool   // X-XSS-Protection: 1; mode=block
}

func newSecurity(c *configs.Security) (*security, error) {
	if err := invalid(c.Check()); err != nil {
		return nil, err
	}
	s := &security{nosniff: c.ContentTypeOptions, xss: c.XSSProtection}
	// Check accepted only "", DENY and SAMEORIGIN, in any case.
	s.frameOptions = strings.ToUpper(strings.TrimSpace(c.FrameOptions))
	if c.HSTS {
		age := c.HSTSMaxAge
		if age == 0 {
			age = defaultHSTSMaxAge
		}
		s.hsts = "max-age=" + strconv.Itoa(age)
		if c.HSTSIncludeSubDomains {
			s.hsts += "; includeSubDomains"
		}
		if c.HSTSPreload {
			s.hsts += "; preload"
		}
	}
	return s, nil
}

// apply sets the headers. Strict-Transport-Security goes only on answers
// over TLS: browsers ignore it over plain HTTP (RFC 6797 §7.2), and a
// plain-HTTP listener may not have a TLS twin to pin clients to.
func (s *security) apply(ctx *fasthttp.RequestCtx) {
	h := &ctx.Response.Header
	if s.hsts != "" && ctx.IsTLS() {
		h.Set("Strict-Transport-Security", s.hsts)
	}
	if s.frameOptions != "" {
		h.Set("X-Frame-Options", s.frameOptions)
	}
	if s.nosniff {
		h.Set("X-Content-Type-Options", "nosniff")
	}
	if s.xss {
		h.Set("X-XSS-Protection", "1; mode=block")
	}
}
