// Package apicalls counts the HTTP requests a client makes to the API server, so that the
// API cost of a transition can be measured and reported.
package apicalls

import (
	"net/http"
	"sync/atomic"

	"k8s.io/client-go/rest"
)

// Counted returns a copy of cfg whose requests are counted in the returned counter, and whose
// user agent is userAgent unless cfg sets one.
func Counted(cfg *rest.Config, userAgent string) (*rest.Config, *atomic.Int64) {
	calls := new(atomic.Int64)
	c := rest.CopyConfig(cfg)
	c.Wrap(func(rt http.RoundTripper) http.RoundTripper { return &counter{next: rt, n: calls} })
	if c.UserAgent == "" {
		c.UserAgent = userAgent
	}
	return c, calls
}

// counter counts requests on their way to the API server.
type counter struct {
	next http.RoundTripper
	n    *atomic.Int64
}

func (c *counter) RoundTrip(r *http.Request) (*http.Response, error) {
	c.n.Add(1)
	return c.next.RoundTrip(r)
}

// WrappedRoundTripper lets client-go's transport helpers see through the counter.
func (c *counter) WrappedRoundTripper() http.RoundTripper { return c.next }
