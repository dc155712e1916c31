package configs

import (
	"strconv"
	"strings"
)

// CanonicalPolicy returns the canonical form of a load-balancing policy
// name (lower case, '_' written as '-': "Least_Connections" →
// "least-connections") and whether it is one of Policies. The empty name is
// not a policy; Prepare has already replaced it by the effective one on
// every Location.
func CanonicalPolicy(name string) (string, bool) {
	c := strings.ToLower(strings.ReplaceAll(strings.TrimSpace(name), "_", "-"))
	for _, p := range Policies {
		if p == c {
			return c, true
		}
	}
	return c, false
}

// canonicalHashKey returns a consistent-hash key with its kind in lower
// case ("Header:X-User" → "header:X-User"; the name keeps its case, as
// cookie names are case-sensitive) and whether it is valid.
func canonicalHashKey(s string) (string, bool) {
	kind, name, hasName := strings.Cut(strings.TrimSpace(s), ":")
	kind = strings.ToLower(kind)
	switch kind {
	case "ip", "path":
		return kind, !hasName
	case "header", "cookie":
		return kind + ":" + name, validToken(name)
	}
	return s, false
}

// suggest returns `; did you mean "x"?` when a known key is close to key
// (a typo, another case, '-' for '_'), else "".
func suggest(key string, known []string) string {
	best, bestDist := "", 3
	squash := func(s string) string {
		return strings.NewReplacer("_", "", "-", "").Replace(strings.ToLower(s))
	}
	for _, k := range known {
		if squash(k) == squash(key) {
			return "; did you mean " + strconv.Quote(k) + "?"
		}
		// Short keys need a closer match, or every 3-letter key would
		// suggest every other.
		limit := 2
		if len(k) <= 4 {
			limit = 1
		}
		if d := editDistance(key, k); d <= limit && d < bestDist {
			best, bestDist = k, d
		}
	}
	if best == "" {
		return ""
	}
	return "; did you mean " + strconv.Quote(best) + "?"
}

// editDistance is the Damerau–Levenshtein distance (with adjacent
// transpositions), so "lb_polcy" and "lb_poilcy" are both one edit away.
func editDistance(a, b string) int {
	prev2 := make([]int, len(b)+1)
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
			if i > 1 && j > 1 && a[i-1] == b[j-2] && a[i-2] == b[j-1] {
				cur[j] = min(cur[j], prev2[j-2]+1)
			}
		}
		prev2, prev, cur = prev, cur, prev2
	}
	return prev[len(b)]
}

// validToken reports whether s is an HTTP token (RFC 9110 §5.6.2), the
// syntax of a header name.
func validToken(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9':
		case strings.IndexByte("!#$%&'*+-.^_`|~", c) >= 0:
		default:
			return false
		}
	}
	return true
}

// validFieldValue reports whether s may be sent as a header value: no
// control characters other than tab (a CR or LF would split the header,
// RFC 9110 §5.5).
func validFieldValue(s string) bool {
	for i := 0; i < len(s); i++ {
		if c := s[i]; (c < ' ' && c != '\t') || c == 0x7f {
			return false
		}
	}
	return true
}
