package promapi

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"
)

// maxAnswerBytes bounds what one answer may take in memory: a chunk of 11,000 points for a few
// thousand series is well below it.
const maxAnswerBytes = 1 << 30

// Client queries one Prometheus. HTTP is the collector-configured client (TLS, auth, headers,
// timeout); BaseURL is Prometheus' root, such as http://prometheus:9090 or a path prefix behind a
// proxy.
type Client struct {
	HTTP    *http.Client
	BaseURL string
}

// Query evaluates expr at t (/api/v1/query).
func (c *Client) Query(ctx context.Context, expr string, t time.Time) ([]Series, error) {
	resultType, series, err := c.post(ctx, "/api/v1/query", url.Values{"query": {expr}, "time": {FormatTime(t)}})
	if err == nil && resultType == "matrix" {
		// A range vector's samples carry their own timestamps, not t: query_range refuses such an
		// expression, and so does Query, for the same expression to behave the same in both.
		return nil, &Error{Kind: KindRejected, StatusCode: http.StatusOK, Msg: "the expression returns a range vector; it must return an instant vector or a scalar"}
	}
	return series, err
}

// QueryRange evaluates expr at start, start+step, ... up to end (/api/v1/query_range).
func (c *Client) QueryRange(ctx context.Context, expr string, start, end time.Time, step time.Duration) ([]Series, error) {
	_, series, err := c.post(ctx, "/api/v1/query_range", url.Values{
		"query": {expr},
		"start": {FormatTime(start)},
		"end":   {FormatTime(end)},
		"step":  {formatMillis(step.Milliseconds())},
	})
	return series, err
}

// post sends the parameters form-encoded, which Prometheus accepts on both endpoints and which
// keeps long expressions out of URLs and proxies' access logs.
func (c *Client) post(ctx context.Context, path string, params url.Values) (string, []Series, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, strings.TrimSuffix(c.BaseURL, "/")+path, strings.NewReader(params.Encode()))
	if err != nil {
		return "", nil, &Error{Kind: KindRejected, Msg: err.Error()}
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	resp, err := c.HTTP.Do(req)
	if err != nil {
		return "", nil, &Error{Kind: KindUnavailable, Err: err}
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxAnswerBytes+1))
	if err != nil {
		return "", nil, &Error{Kind: KindUnavailable, StatusCode: resp.StatusCode, Err: err}
	}
	if len(body) > maxAnswerBytes {
		return "", nil, &Error{Kind: KindInvalidResponse, StatusCode: resp.StatusCode, Msg: fmt.Sprintf("answer larger than %d bytes", maxAnswerBytes)}
	}
	return parse(resp.StatusCode, body)
}

// FormatTime writes t as the API's seconds with exactly millisecond precision, avoiding the
// rounding of a float.
func FormatTime(t time.Time) string {
	return formatMillis(t.UnixMilli())
}

func formatMillis(ms int64) string {
	return fmt.Sprintf("%d.%03d", ms/1000, ms%1000)
}
