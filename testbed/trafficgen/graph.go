package trafficgen

import (
	"math"
	"math/rand/v2"
	"slices"
)

const (
	// maxFanOut is the most downstream services one service calls.
	maxFanOut = 3
	// maxDepth is the most edges on a path from an entry service, so a trace is at most five
	// services deep, as in a real system.
	maxDepth = 4
)

// The names are the vocabulary of a shop: entry services face users, leaf services are stores and
// shared platform services, the rest are business services. Together they hold more than
// MaxServices names, so every service gets a distinct one whatever the shape of the graph.
var (
	entryNames = []string{"frontend", "api-gateway", "mobile-bff", "web", "partner-api", "admin-portal"}

	middleNames = []string{
		"checkout", "cart", "payments", "orders", "catalog", "search", "recommendations",
		"shipping", "pricing", "inventory", "users", "accounts", "notifications", "reviews",
		"ads", "currency", "fraud-check", "loyalty", "promotions", "billing", "invoicing", "tax",
		"fulfillment", "returns", "wishlist", "profile", "quotes", "subscriptions",
	}

	leafNames = []string{
		"db-orders", "db-users", "db-catalog", "db-payments", "db-inventory", "db-reviews",
		"redis-cache", "redis-sessions", "auth", "search-index", "blob-store", "geo-lookup",
		"email-gateway", "sms-gateway", "feature-flags", "rate-limiter", "ledger", "audit-log",
		"config-store", "token-service", "fx-rates", "db-shipping", "db-billing", "metadata-store",
	}
)

// buildSystem draws a connected DAG of n services (8..20 when n is 0) and their profiles.
//
// Services are numbered so that every edge goes from a lower to a higher number, which keeps the
// graph acyclic by construction and makes the numbering a topological order. The first 1–3 are
// the entry services. Each later service first gets one caller among the services before it (a
// random tree, so every non-entry service has a caller); every entry but the first then calls a
// service of the first entry's tree, which joins the trees into one connected graph; finally a few
// services, preferably leaves such as a database or auth, get extra callers, as shared services
// do.
func buildSystem(rng *rand.Rand, n int, prefix string) []service {
	if n == 0 {
		n = 8 + rng.IntN(13)
	}
	entries := 1 + rng.IntN(min(3, n/2))
	callees := make([][]int, n)
	depth := make([]int, n) // along the tree
	root := make([]int, n)  // the entry whose tree holds the service
	for i := range entries {
		root[i] = i
	}

	for i := entries; i < n; i++ {
		caller := 0 // the first entry's tree must not be empty: the other entries join it
		if i > entries {
			var cand []int
			for c := range i {
				// Entries other than the first keep a slot for the edge that joins them to the
				// first entry's tree.
				limit := maxFanOut
				if c > 0 && c < entries {
					limit--
				}
				if depth[c] < maxDepth && len(callees[c]) < limit {
					cand = append(cand, c)
				}
			}
			// cand is never empty: filling every slot above the depth limit would take far more
			// than MaxServices services.
			caller = cand[rng.IntN(len(cand))]
		}
		callees[caller] = append(callees[caller], i)
		depth[i] = depth[caller] + 1
		root[i] = root[caller]
	}

	for e := 1; e < entries; e++ {
		var cand []int
		for i := entries; i < n; i++ {
			if root[i] == 0 {
				cand = append(cand, i)
			}
		}
		callees[e] = append(callees[e], cand[rng.IntN(len(cand))])
	}

	addSharedCallers(rng, callees, entries)
	return profile(rng, callees, entries, prefix)
}

// addSharedCallers gives 1 + n/8 services one or two more callers each, trying leaves first.
func addSharedCallers(rng *rand.Rand, callees [][]int, entries int) {
	n := len(callees)
	var leaves, inner []int
	for i := entries; i < n; i++ {
		if len(callees[i]) == 0 {
			leaves = append(leaves, i)
		} else {
			inner = append(inner, i)
		}
	}
	rng.Shuffle(len(leaves), func(a, b int) { leaves[a], leaves[b] = leaves[b], leaves[a] })
	rng.Shuffle(len(inner), func(a, b int) { inner[a], inner[b] = inner[b], inner[a] })

	want := 1 + n/8
	for _, target := range append(leaves, inner...) {
		if want == 0 {
			return
		}
		added := false
		for range 1 + rng.IntN(2) {
			in, height := pathLengths(callees)
			var cand []int
			for c := range target {
				if len(callees[c]) < maxFanOut && !slices.Contains(callees[c], target) &&
					in[c]+1+height[target] <= maxDepth {
					cand = append(cand, c)
				}
			}
			if len(cand) == 0 {
				break
			}
			c := cand[rng.IntN(len(cand))]
			callees[c] = append(callees[c], target)
			added = true
		}
		if added {
			want--
		}
	}
}

// pathLengths returns, for every service, the longest path from an entry to it and from it to a
// leaf, in edges. Edges go from lower to higher numbers, so one pass each way suffices.
func pathLengths(callees [][]int) (in, height []int) {
	n := len(callees)
	in = make([]int, n)
	height = make([]int, n)
	for c := range n {
		for _, s := range callees[c] {
			in[s] = max(in[s], in[c]+1)
		}
	}
	for c := n - 1; c >= 0; c-- {
		for _, s := range callees[c] {
			height[c] = max(height[c], height[s]+1)
		}
	}
	return in, height
}

// profile names the services and draws their latency, errors, endpoints and call patterns.
func profile(rng *rand.Rand, callees [][]int, entries int, prefix string) []service {
	pick := func(names []string) []string {
		p := append([]string(nil), names...)
		rng.Shuffle(len(p), func(a, b int) { p[a], p[b] = p[b], p[a] })
		return p
	}
	entry, middle, leaf := pick(entryNames), pick(middleNames), pick(leafNames)
	// take hands out names from the preferred list and falls back to the other when a graph has
	// more leaves or more inner services than one list holds.
	take := func(first, second *[]string) string {
		if len(*first) == 0 {
			first = second
		}
		name := (*first)[0]
		*first = (*first)[1:]
		return name
	}

	services := make([]service, len(callees))
	for i := range services {
		var base string
		switch {
		case i < entries:
			base = entry[i]
		case len(callees[i]) == 0:
			base = take(&leaf, &middle)
		default:
			base = take(&middle, &leaf)
		}
		method := "GET"
		if rng.Float64() < 0.3 {
			method = "POST"
		}
		// A log-uniform median between 2 and 40 ms gives more fast services than slow ones.
		median := 2 * math.Pow(20, rng.Float64()) * float64(1e6)
		s := service{
			name:       prefix + base,
			entry:      i < entries,
			selfMedian: median,
			selfSigma:  0.2 + 0.3*rng.Float64(),
			errorRate:  0.001 + 0.009*rng.Float64(),
			method:     method,
			route:      "/" + base,
		}
		for _, to := range callees[i] {
			count := 1
			if rng.Float64() < 0.25 {
				count = 2
			}
			s.calls = append(s.calls, call{to: to, prob: 0.6 + 0.4*rng.Float64(), count: count})
		}
		services[i] = s
	}
	return services
}
