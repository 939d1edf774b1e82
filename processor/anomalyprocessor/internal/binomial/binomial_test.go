package binomial

import (
	"math"
	"math/rand/v2"
	"testing"

	"github.com/stretchr/testify/assert"
)

func TestStrayFailuresAreCalm(t *testing.T) {
	var m Model
	r := rand.New(rand.NewPCG(1, 2))
	worst := 0.0
	for i := range 5000 {
		n := 200.0
		k := 0.0
		for range int(n) {
			if r.Float64() < 0.005 {
				k++
			}
		}
		if s := m.Score(k, n, 0.99); i > 50 {
			worst = max(worst, s)
		}
	}
	assert.Less(t, worst, 5.0, "binomial noise at 0.5%% never looks like an incident")
}

func TestErrorBurstScoresHigh(t *testing.T) {
	var m Model
	for range 100 {
		m.Score(1, 200, 0.99)
	}
	assert.Equal(t, 10.0, m.Score(20, 200, 0.99), "10% failures where 0.5% is usual")
	assert.Greater(t, m.Score(6, 200, 0.99), 1.0)
	assert.Zero(t, m.Score(0, 200, 0.99))
}

func TestBadInput(t *testing.T) {
	var m Model
	for _, c := range [][2]float64{{1, 0}, {-1, 10}, {math.NaN(), 10}, {1, math.Inf(1)}, {1, math.NaN()}} {
		assert.Zero(t, m.Score(c[0], c[1], 0.99), "%v", c)
	}
	assert.Equal(t, Model{}, m, "bad input teaches nothing")
	assert.Equal(t, 10.0, m.Score(50, 10, 0.99), "failures are capped at the requests")
}
