// Package promapi is a small client of Prometheus' HTTP query API (/api/v1/query and
// /api/v1/query_range) and the parser of its answers. It knows nothing of the collector.
package promapi

import (
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"
)

// Series is one series of an answer: its labels (with __name__ when Prometheus kept it) and its
// points in the order Prometheus gave them, which is ascending time.
type Series struct {
	Labels map[string]string
	Points []Point
}

// Point is one sample: T in Unix milliseconds, the resolution of Prometheus' timestamps.
type Point struct {
	T int64
	V float64
}

// Kind says what a failed request means for the caller.
type Kind uint8

const (
	// KindRejected is a request Prometheus will never accept as it is: a query that does not
	// parse (bad_data), a wrong path, failed authentication. Retrying cannot help.
	KindRejected Kind = iota
	// KindExecution is a query that parsed but failed while being evaluated (for example a
	// many-to-many match); the same query may succeed on other data.
	KindExecution
	// KindUnavailable is Prometheus down, overloaded or timing out: worth retrying.
	KindUnavailable
	// KindInvalidResponse is an answer that is not what the API documents.
	KindInvalidResponse
)

func (k Kind) String() string {
	switch k {
	case KindRejected:
		return "rejected"
	case KindExecution:
		return "execution"
	case KindUnavailable:
		return "unavailable"
	default:
		return "invalid_response"
	}
}

// Error is a failed request. Msg is Prometheus' own error text when it gave one, so the user
// sees exactly what Prometheus objected to.
type Error struct {
	Kind       Kind
	StatusCode int    // 0 when no HTTP answer arrived
	Type       string // Prometheus' errorType (bad_data, execution, timeout, ...), when given
	Msg        string
	Err        error // the transport error, when no HTTP answer arrived
}

func (e *Error) Error() string {
	switch {
	case e.Err != nil:
		return fmt.Sprintf("prometheus unreachable: %v", e.Err)
	case e.Type != "":
		return fmt.Sprintf("prometheus answered %d (%s): %s", e.StatusCode, e.Type, e.Msg)
	default:
		return fmt.Sprintf("prometheus answered %d: %s", e.StatusCode, e.Msg)
	}
}

func (e *Error) Unwrap() error { return e.Err }

// KindOf is the Kind of err: an *Error's own, KindUnavailable for anything else (a transport
// error).
func KindOf(err error) Kind {
	var e *Error
	if errors.As(err, &e) {
		return e.Kind
	}
	return KindUnavailable
}

type envelope struct {
	Status    string `json:"status"`
	ErrorType string `json:"errorType"`
	Error     string `json:"error"`
	Data      struct {
		ResultType string          `json:"resultType"`
		Result     json.RawMessage `json:"result"`
	} `json:"data"`
}

// pair is [<unix seconds>, "<value>"], the API's encoding of one sample.
type pair [2]json.RawMessage

// Parse turns an HTTP answer of /api/v1/query or /api/v1/query_range into series. A vector, a
// matrix and a scalar are understood (a scalar is one series without labels); a string result
// is an error. Native histogram samples are not floats and are left out.
func Parse(statusCode int, body []byte) ([]Series, error) {
	_, series, err := parse(statusCode, body)
	return series, err
}

// parse is Parse that also returns the result type.
func parse(statusCode int, body []byte) (string, []Series, error) {
	var env envelope
	if err := json.Unmarshal(body, &env); err != nil || env.Status == "" {
		return "", nil, notJSON(statusCode, body)
	}
	if env.Status != "success" {
		return "", nil, &Error{Kind: classify(statusCode, env.ErrorType), StatusCode: statusCode, Type: env.ErrorType, Msg: env.Error}
	}
	series, err := parseData(env.Data.ResultType, env.Data.Result)
	if err != nil {
		return "", nil, &Error{Kind: KindInvalidResponse, StatusCode: statusCode, Msg: err.Error()}
	}
	return env.Data.ResultType, series, nil
}

// notJSON explains an answer that is not the API's JSON, typically a proxy's error page.
func notJSON(statusCode int, body []byte) error {
	msg := strings.TrimSpace(string(body))
	if len(msg) > 256 {
		msg = msg[:256] + "..."
	}
	if msg == "" {
		msg = "empty body"
	}
	kind := KindInvalidResponse
	switch {
	case statusCode == 429 || statusCode >= 500:
		kind = KindUnavailable
	case statusCode >= 400:
		kind = KindRejected
	}
	return &Error{Kind: kind, StatusCode: statusCode, Msg: msg}
}

// classify follows the API's documented error types first, then the status code.
func classify(statusCode int, errorType string) Kind {
	switch errorType {
	case "bad_data":
		return KindRejected
	case "execution":
		return KindExecution
	case "timeout", "canceled", "unavailable", "internal":
		return KindUnavailable
	}
	switch {
	case statusCode == 422:
		return KindExecution
	case statusCode == 429 || statusCode >= 500:
		return KindUnavailable
	case statusCode >= 400:
		return KindRejected
	}
	return KindInvalidResponse
}

func parseData(resultType string, raw json.RawMessage) ([]Series, error) {
	switch resultType {
	case "vector":
		var result []struct {
			Metric map[string]string `json:"metric"`
			Value  *pair             `json:"value"`
		}
		if err := json.Unmarshal(raw, &result); err != nil {
			return nil, fmt.Errorf("vector: %w", err)
		}
		out := make([]Series, 0, len(result))
		for _, r := range result {
			s := Series{Labels: r.Metric}
			if r.Value != nil { // nil for a native histogram sample
				p, err := parsePair(*r.Value)
				if err != nil {
					return nil, fmt.Errorf("vector: %w", err)
				}
				s.Points = []Point{p}
			}
			out = append(out, s)
		}
		return out, nil
	case "matrix":
		var result []struct {
			Metric map[string]string `json:"metric"`
			Values []pair            `json:"values"`
		}
		if err := json.Unmarshal(raw, &result); err != nil {
			return nil, fmt.Errorf("matrix: %w", err)
		}
		out := make([]Series, 0, len(result))
		for _, r := range result {
			s := Series{Labels: r.Metric, Points: make([]Point, 0, len(r.Values))}
			for _, v := range r.Values {
				p, err := parsePair(v)
				if err != nil {
					return nil, fmt.Errorf("matrix: %w", err)
				}
				s.Points = append(s.Points, p)
			}
			out = append(out, s)
		}
		return out, nil
	case "scalar":
		var v pair
		if err := json.Unmarshal(raw, &v); err != nil {
			return nil, fmt.Errorf("scalar: %w", err)
		}
		p, err := parsePair(v)
		if err != nil {
			return nil, fmt.Errorf("scalar: %w", err)
		}
		return []Series{{Points: []Point{p}}}, nil
	default:
		return nil, fmt.Errorf("result type %q is not a vector, matrix or scalar", resultType)
	}
}

// parsePair reads [1700000000.123, "42"]. The timestamp is a JSON number of seconds with at
// most millisecond precision; the value a string because JSON has no NaN or Inf.
func parsePair(p pair) (Point, error) {
	secs, err := strconv.ParseFloat(string(p[0]), 64)
	if err != nil || math.IsNaN(secs) || math.IsInf(secs, 0) || math.Abs(secs) > maxSeconds {
		return Point{}, fmt.Errorf("bad timestamp %s", p[0])
	}
	var s string
	if err := json.Unmarshal(p[1], &s); err != nil {
		return Point{}, fmt.Errorf("bad value %s", p[1])
	}
	v, err := strconv.ParseFloat(s, 64)
	if err != nil {
		// ParseFloat returns ±Inf with a range error for "1e999", as Prometheus would read it.
		var numErr *strconv.NumError
		if !errors.As(err, &numErr) || numErr.Err != strconv.ErrRange {
			return Point{}, fmt.Errorf("bad value %q", s)
		}
	}
	return Point{T: int64(math.Round(secs * 1000)), V: v}, nil
}

// maxSeconds keeps a timestamp's milliseconds inside int64 (and inside what pdata's nanoseconds
// can hold, about year 2262).
const maxSeconds = 9e9
