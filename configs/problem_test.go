package configs

import "testing"

// TestProblemString checks the "file:line: key: msg" form and what is left
// out when a part is unknown.
func TestProblemString(t *testing.T) {
	cases := []struct {
		p    Problem
		want string
	}{
		{Problem{File: "a.yaml", Line: 3, Key: "services[0].port", Msg: "bad"}, "a.yaml:3: services[0].port: bad"},
		{Problem{File: "a.yaml", Key: "backends", Msg: "bad"}, "a.yaml: backends: bad"},
		{Problem{Key: "backends", Msg: "bad"}, "backends: bad"},
		{Problem{Line: 7, Key: "port", Msg: "bad"}, "line 7: port: bad"},
		{Problem{File: "a.yaml", Line: 2, Msg: "a tab"}, "a.yaml:2: a tab"},
		{Problem{File: "a.yaml", Line: 1, Key: "admin_port", Msg: "ignored", Warning: true}, "a.yaml:1: admin_port: ignored"},
	}
	for _, tc := range cases {
		if got := tc.p.String(); got != tc.want {
			t.Errorf("String() = %q, want %q", got, tc.want)
		}
	}
}
