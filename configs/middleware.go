package configs

import (
	"fmt"
	"math"
	"strings"
)

// This file holds the rules for the values of each middleware kind, in one
// place: middleware.New refuses a chain that breaks one, and -check reports
// each with its file, line and key, in the same words.

// FieldError is a middleware value no request could be served with.
type FieldError struct {
	// Field is the key within the kind, such as "frame_options".
	Field string
	// Msg says what is wrong and what is expected.
	Msg string
}

// Error returns "field: msg".
func (e FieldError) Error() string { return e.Field + ": " + e.Msg }

// Check returns what is wrong with r, or nil.
func (r *RateLimit) Check() []FieldError {
	var errs []FieldError
	switch rps := r.RequestsPerSecond; {
	case !(rps > 0): // NaN too
		errs = append(errs, FieldError{"requests_per_second", fmt.Sprintf("%v: expected a rate greater than 0", rps)})
	case math.IsInf(rps, 1):
		errs = append(errs, FieldError{"requests_per_second", fmt.Sprintf("%v: expected a finite rate", rps)})
	}
	if r.Burst < 0 {
		errs = append(errs, FieldError{"burst", fmt.Sprintf("%d is negative", r.Burst)})
	}
	return errs
}

// Check returns what is wrong with s, or nil. frame_options is compared
// case-insensitively, ignoring surrounding space.
func (s *Security) Check() []FieldError {
	var errs []FieldError
	if s.HSTSMaxAge < 0 {
		errs = append(errs, FieldError{"hsts_max_age", fmt.Sprintf("%d is negative", s.HSTSMaxAge)})
	}
	switch strings.ToUpper(strings.TrimSpace(s.FrameOptions)) {
	case "", "DENY", "SAMEORIGIN":
	default:
		// ALLOW-FROM is obsolete: current browsers ignore the header
		// with it, which would leave the page frameable.
		errs = append(errs, FieldError{"frame_options", fmt.Sprintf("%q: expected DENY or SAMEORIGIN "+
			"(for ALLOW-FROM, which browsers ignore, send Content-Security-Policy: frame-ancestors from the backend)", s.FrameOptions)})
	}
	return errs
}

// Check returns what is wrong with c, or nil. (Validation also refuses "*"
// with allow_credentials, and bad header names; see checkCORS.)
func (c *CORS) Check() []FieldError {
	var errs []FieldError
	if len(c.AllowedOrigins) == 0 {
		errs = append(errs, FieldError{"allowed_origins", `empty: list the origins that may read answers, or "*"`})
	}
	if c.MaxAge < 0 {
		errs = append(errs, FieldError{"max_age", fmt.Sprintf("%d is negative", c.MaxAge)})
	}
	return errs
}
