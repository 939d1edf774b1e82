// Package edge keeps what the root-cause processor learns per client→server edge: the rate state
// of each series the edge is made of, the sums of the interval being gathered, and one model and
// one evidence test per feature (request rate, error ratio, mean latency). It knows nothing of
// pdata: the processor hands it plain numbers.
package edge

import (
	"math"

	"github.com/omen-otel/omen/internal/detector"
	"github.com/omen-otel/omen/internal/identity"
	"github.com/omen-otel/omen/internal/rate"
	"github.com/omen-otel/omen/processor/rootcauseprocessor/internal/evidence"
)

// evidenceDecay is the weight the evidence tests' learned ratio, rate and mean keep per
// interval: a half-life of about 70 intervals, so a fault of a few minutes does not become
// normal.
const evidenceDecay = 0.99

// MaxSeries bounds the series one edge is made of (the connector makes two or three; Istio one
// per response code and reporter).
const MaxSeries = 64

// Params are what every edge's models share.
type Params struct {
	model *detector.Params
}

// NewParams turns a detector configuration into edge parameters. An edge's models report the
// surprise of every interval for as long as a fault lasts: no refractory discount after a high
// score, no re-anchoring of the baseline at a level shift, no volatility floor (its short-run
// variance, as fast as the scale's, never binds), which would take a sustained shift for a burst
// of volatility and judge it against itself, and no tail learning from a sustained deviation.
// NAB rewards flagging a fault once; the root-cause ranking must see it until it ends.
func NewParams(dc detector.Config) (*Params, error) {
	dc.RefractoryHalfLife = math.SmallestNonzeroFloat64
	dc.ShiftThreshold = math.MaxFloat64
	dc.VolatilityHalfLife = dc.ScaleHalfLife
	dc.HoldShifts = true
	p, err := detector.NewParams(dc)
	if err != nil {
		return nil, err
	}
	return &Params{model: p}, nil
}

// Feature names the three things scored per edge.
type Feature uint8

const (
	RequestRate Feature = iota
	ErrorRatio
	Latency
	NumFeatures
)

// Series is the rate state of one series of an edge.
type Series struct {
	ID      identity.Hash
	Counter rate.Counter
	Delta   rate.Delta
	Hist    *rate.Histogram // cumulative histograms, allocated on their first point
}

// Interval sums the points of one edge that share a timestamp: an edge is often several series
// (the connector splits failed from all requests, Istio splits by response code), and those
// points may come in different requests.
type Interval struct {
	Open bool
	TS   int64 // the points' timestamp, unix nanos
	// Opened is when its first point arrived (the processor's clock), for closing it when the
	// rest is overdue.
	Opened   int64
	Requests float64
	Failed   float64
	LatCount float64
	LatSum   float64
	// RequestsSeen says a request count came; SumOK that every latency point had a sum.
	RequestsSeen, SumOK bool
	// Prev is the timestamp of the edge's interval before it (0 for its first), set by Take:
	// the request rate's time span.
	Prev int64
}

// State is what is kept per edge.
type State struct {
	// LastTS is the timestamp of the last closed interval: the start of the open one.
	LastTS                    int64
	Rate, ErrorRatio, Latency detector.Model
	Arrivals                  evidence.Arrivals
	Failures                  evidence.Failures
	LatencyMean               evidence.Mean
	Series                    []Series
	Open                      Interval
}

// New returns the state of an edge not seen before.
func New(p *Params) *State {
	s := &State{}
	for _, m := range []*detector.Model{&s.Rate, &s.ErrorRatio, &s.Latency} {
		*m = *detector.New(p.model)
	}
	return s
}

// SeriesOf returns the rate state of the edge's series id, adding it when new; nil when the edge
// already has MaxSeries series.
func (s *State) SeriesOf(id identity.Hash) *Series {
	for i := range s.Series {
		if s.Series[i].ID == id {
			return &s.Series[i]
		}
	}
	if len(s.Series) >= MaxSeries {
		return nil
	}
	s.Series = append(s.Series, Series{ID: id})
	return &s.Series[len(s.Series)-1]
}

// Begin opens an interval at ts, arrived at now.
func (s *State) Begin(ts, now int64) {
	s.Open = Interval{Open: true, TS: ts, Opened: now, SumOK: true}
}

// AddRequests adds requests to the open interval, of which failed failed.
func (s *State) AddRequests(requests, failed float64) {
	s.Open.Requests += requests
	s.Open.Failed += failed
	s.Open.RequestsSeen = true
}

// AddFailed adds failed requests counted by a metric of their own.
func (s *State) AddFailed(failed float64) { s.Open.Failed += failed }

// AddLatency adds the count and sum of a latency histogram's interval; hasSum is false when the
// point had no usable sum.
func (s *State) AddLatency(count, sum float64, hasSum bool) {
	s.Open.LatCount += count
	s.Open.LatSum += sum
	s.Open.SumOK = s.Open.SumOK && hasSum
}

// Score is one feature's score for one interval.
type Score struct {
	Feature Feature
	Score   float64
	Result  detector.Result
}

// Scores are the scores of one closed interval.
type Scores struct {
	TS       int64
	Features [NumFeatures]Score
	N        int // of Features in use
	// HasRate, Rate: the request rate was scored, and its score.
	HasRate bool
	Rate    float64
	// Symptom is the highest of the error ratio's and the latency's scores: what travels from a
	// callee to its callers.
	Symptom float64
	// OutOfOrder counts the features whose model refused the interval as older than its last.
	OutOfOrder int
}

// Scored says whether any feature was scored (every model is warm enough to score).
func (sc *Scores) Scored() bool { return sc.N > 0 }

// Unified is the edge's unified score: its highest feature, without the request rate when the
// rates of most edges moved at once (commonMode).
func (sc *Scores) Unified(commonMode bool) float64 {
	if commonMode || !sc.HasRate {
		return sc.Symptom
	}
	return max(sc.Rate, sc.Symptom)
}

func (sc *Scores) add(f Feature, score float64, res detector.Result) {
	sc.Features[sc.N] = Score{Feature: f, Score: score, Result: res}
	sc.N++
	if f == RequestRate {
		sc.HasRate, sc.Rate = true, score
	} else {
		sc.Symptom = max(sc.Symptom, score)
	}
}

// Take closes the open interval and returns it, to be scored at its ranking: an edge that
// borrows a sibling's models (Borrow) must see them as they are once the sibling's interval of
// the same time is scored, whichever of the two closed first.
func (s *State) Take() Interval {
	in := s.Open
	s.Open = Interval{}
	in.Prev = s.LastTS
	if in.TS > s.LastTS {
		s.LastTS = in.TS
	}
	return in
}

// Score scores an interval Take returned, in the order they were taken; errors says whether the
// edge's source can tell failed requests. Each feature's score is the lower of its model's and
// its evidence test's: the model knows how this edge's values usually move, the test how little
// a handful of requests prove (one failure or one slow request in a quiet interval is chance).
func (s *State) Score(in Interval, errors bool) Scores {
	sc := Scores{TS: in.TS}
	feed := func(m *detector.Model, v float64) (detector.Result, bool) {
		res, skip := m.Update(in.TS, v)
		if skip == detector.SkipOutOfOrder {
			sc.OutOfOrder++
		}
		return res, skip == detector.Accepted && res.WarmedUp
	}
	if in.RequestsSeen && in.Prev != 0 && in.TS > in.Prev {
		seconds := float64(in.TS-in.Prev) / 1e9
		test, tested := s.Arrivals.Score(in.Requests, seconds, evidenceDecay)
		if res, ok := feed(&s.Rate, in.Requests/seconds); ok {
			v := res.Score
			if tested {
				v = min(v, test)
			}
			sc.add(RequestRate, v, res)
		}
	}
	if errors && in.RequestsSeen && in.Requests > 0 {
		test := s.Failures.Score(in.Failed, in.Requests, evidenceDecay)
		if res, ok := feed(&s.ErrorRatio, min(in.Failed/in.Requests, 1)); ok {
			sc.add(ErrorRatio, min(res.Score, test), res)
		}
	}
	// The mean, not a quantile: an edge's quantile comes from coarse buckets (the connector's
	// double from 0.1 s to 0.2 s) and jumps between them on healthy traffic.
	if in.LatCount > 0 && in.SumOK {
		mean := in.LatSum / in.LatCount
		test, tested := s.LatencyMean.Score(mean, in.LatCount, evidenceDecay)
		if res, ok := feed(&s.Latency, mean); ok {
			v := res.Score
			if tested {
				v = min(v, test)
			}
			sc.add(Latency, v, res)
		}
	}
	return sc
}

// A common-mode rate change is one where at least commonModeShare of the edges (and at least
// commonModeEdges) score commonModeScore or more on their request rate in the same ranking. No
// single service causes that: it is a change of load at every entry, or of the telemetry itself
// (a collector or an agent that stalled and then sends a backlog of spans at once, which the
// servicegraph connector counts when they arrive). The rates' own scores are still emitted.
const (
	commonModeShare = 0.25
	commonModeEdges = 4
	commonModeScore = 5
)

// CommonMode says whether the request rates of the intervals ranked together moved together:
// rates are the request-rate scores of those that have one.
func CommonMode(rates []float64) bool {
	moved := 0
	for _, r := range rates {
		if r >= commonModeScore {
			moved++
		}
	}
	return moved >= commonModeEdges && float64(moved) >= commonModeShare*float64(len(rates))
}

// Learned is how many intervals the edge's error-ratio and latency models have learned from:
// among siblings, the one to borrow from is the one that has learned the most.
func (s *State) Learned() int64 { return max(s.ErrorRatio.State().N, s.Latency.State().N) }

// Borrow starts a new edge from what a sibling learned: an edge of the same client→server pair
// and connection type that differs in a dimension, such as the stable version of the service a
// canary rolls out. A canary's edges are new series exactly when they matter; a request's
// failure ratio and its latency do not depend on which share of the traffic a version takes,
// so the sibling's error-ratio and latency models and evidence are the canary's baseline from
// its first interval, and its own intervals go on teaching them. The request rate is not
// borrowed: the rollout sets each version's share, so the new edge learns its own. An error
// (impossible with models of the same Params) may leave one of the two models borrowed.
func (s *State) Borrow(from *State) error {
	for _, m := range []struct{ to, from *detector.Model }{{&s.ErrorRatio, &from.ErrorRatio}, {&s.Latency, &from.Latency}} {
		b, err := m.from.MarshalBinary()
		if err != nil {
			return err
		}
		// The copy shares nothing with the sibling (the seasonal profile is a slice).
		if err := m.to.UnmarshalBinary(b); err != nil {
			return err
		}
	}
	s.Failures = from.Failures
	s.LatencyMean = from.LatencyMean
	return nil
}
