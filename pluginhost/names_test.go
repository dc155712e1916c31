package pluginhost

import (
	"context"
	"log/slog"
	"net/http"
	"strings"
	"testing"

	"github.com/spillway-lb/spillway/pluginhost/plugin"
)

// ranked is a do-nothing plugin with a chosen name and priority.
type ranked struct {
	name string
	prio int
}

func (r ranked) Name() string   { return r.name }
func (r ranked) Priority() int  { return r.prio }
func (r ranked) Cleanup() error { return nil }
func (r ranked) ProcessRequest(context.Context, *http.Request) *plugin.Result {
	return plugin.ResultContinue
}
func (r ranked) ProcessResponse(context.Context, *http.Response) *plugin.Result {
	return plugin.ResultContinue
}

// Three files, two of them named x at priorities 1 and 3 with y(2) sorted
// between them: start-up fails and names both files of x.
func TestDuplicateNameAcrossPrioritiesNamesBothFiles(t *testing.T) {
	es := []*entry{
		{h: ranked{"x", 3}, name: "x", file: "plugins/c.so"},
		{h: ranked{"y", 2}, name: "y", file: "plugins/b.so"},
		{h: ranked{"x", 1}, name: "x", file: "plugins/a.so"},
	}
	_, err := newHost(es, nil, slog.New(slog.DiscardHandler))
	want := `two plugins are named "x" (plugins/a.so and plugins/c.so)`
	if err == nil || !strings.Contains(err.Error(), want) {
		t.Fatalf("newHost error = %v, want it to contain %q", err, want)
	}
}
