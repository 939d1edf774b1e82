// Command trafficgen sends the synthetic microservice traces of testbed/trafficgen to an
// OTLP/HTTP receiver and can inject a fault into one service after a while.
//
//	go run ./testbed/cmd/trafficgen --endpoint 127.0.0.1:4318 --seed 7 [--rate 20] [--services N]
//	    [--prefix P] [--duration D] [--fault latency|errors|auto|none] [--fault-after D]
//	    [--fault-service NAME] [--factor F] [--error-rate R]
//
// It prints the call graph, then the fault when it is injected, and stops after --duration or at
// Ctrl-C, printing how many traces it sent.
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"go.opentelemetry.io/collector/pdata/ptrace"

	"github.com/omen-otel/omen/testbed/trafficgen"
)

type options struct {
	endpoint   string
	cfg        trafficgen.Config
	duration   time.Duration
	faultAfter time.Duration
	fault      string
	service    string
	factor     float64
	errorRate  float64
	set        map[string]bool // the flags given on the command line
}

func main() {
	var o options
	flag.StringVar(&o.endpoint, "endpoint", "127.0.0.1:4318", "OTLP/HTTP receiver, host:port")
	flag.Int64Var(&o.cfg.Seed, "seed", 1, "seed of the graph, the traces and the automatic fault")
	flag.Float64Var(&o.cfg.TraceRate, "rate", trafficgen.DefaultTraceRate, "traces per second")
	flag.IntVar(&o.cfg.Services, "services", 0, fmt.Sprintf("number of services, 2..%d (0: the seed picks 8..20)", trafficgen.MaxServices))
	flag.StringVar(&o.cfg.Prefix, "prefix", "", "prefix of every service name, to keep several runs apart in one collector")
	flag.DurationVar(&o.duration, "duration", 0, "how long to run (0: until Ctrl-C)")
	flag.DurationVar(&o.faultAfter, "fault-after", 5*time.Minute, "when to inject the fault")
	flag.StringVar(&o.fault, "fault", "none", "fault to inject: latency, errors, auto (the seed picks) or none")
	flag.StringVar(&o.service, "fault-service", "", "faulty service, prefix included (default: the seed picks a non-entry service)")
	flag.Float64Var(&o.factor, "factor", 0, "latency fault: self-time multiplier (default: the seed picks 3..10)")
	flag.Float64Var(&o.errorRate, "error-rate", 0, "errors fault: added failure probability (default: the seed picks 0.1..0.5)")
	flag.Parse()
	o.set = map[string]bool{}
	flag.Visit(func(f *flag.Flag) { o.set[f.Name] = true })

	// The errors of package trafficgen, and so all of run's, begin with "trafficgen:".
	if err := run(o); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
}

func run(o options) error {
	g, err := trafficgen.New(o.cfg)
	if err != nil {
		return err
	}
	rate := o.cfg.TraceRate
	if rate == 0 {
		rate = trafficgen.DefaultTraceRate
	}
	fmt.Printf("seed %d, %.4g traces/s to %s\n", o.cfg.Seed, rate, o.endpoint)
	// The graph comes first, so that an unknown --fault-service can be looked up in it.
	printGraph(g.Graph())
	fault, inject, err := chooseFault(g, o)
	if err != nil {
		return err
	}

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if o.duration > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, o.duration)
		defer cancel()
	}

	start := time.Now()
	if inject {
		fmt.Printf("will inject fault %s at +%v\n", fault, o.faultAfter)
		// The timer only sets the fault; if the run ends first it does nothing worth waiting for.
		timer := time.AfterFunc(o.faultAfter, func() {
			if err := g.Inject(fault); err != nil {
				fmt.Fprintln(os.Stderr, err)
				return
			}
			fmt.Printf("%s +%v injected fault %s\n", time.Now().Format(time.TimeOnly), time.Since(start).Round(100*time.Millisecond), fault)
		})
		defer timer.Stop()
	}

	sent := 0
	send := trafficgen.HTTPSender(o.endpoint)
	err = g.Run(ctx, func(ctx context.Context, td ptrace.Traces) error {
		if err := send(ctx, td); err != nil {
			return err
		}
		// A batch holds one ResourceSpans per service, so count the traces by their root spans.
		sent += countRoots(td)
		return nil
	})
	fmt.Printf("sent %d traces in %v\n", sent, time.Since(start).Round(time.Second))
	return err
}

// chooseFault returns the fault to inject and whether to inject one. The seeded PickFault supplies
// whatever the flags leave open, so --fault auto alone is reproducible and any flag overrides it.
func chooseFault(g *trafficgen.Generator, o options) (trafficgen.Fault, bool, error) {
	f := g.PickFault()
	switch o.fault {
	case "none":
		return f, false, nil
	case "auto":
	case "latency":
		f.Kind = trafficgen.FaultLatency
	case "errors":
		f.Kind = trafficgen.FaultErrors
	default:
		return f, false, fmt.Errorf("trafficgen: --fault %q: want latency, errors, auto or none", o.fault)
	}
	if o.set["fault-service"] {
		f.Service = o.service
	}
	if o.set["factor"] {
		f.Factor = o.factor
	}
	if o.set["error-rate"] {
		f.ErrorRate = o.errorRate
	}
	// Checking the fault now, on a throwaway generator of the same system, reports a bad flag at
	// start rather than minutes later.
	probe, err := trafficgen.New(o.cfg)
	if err != nil {
		return f, false, err
	}
	return f, true, probe.Inject(f)
}

func countRoots(td ptrace.Traces) int {
	n := 0
	for i := range td.ResourceSpans().Len() {
		sss := td.ResourceSpans().At(i).ScopeSpans()
		for j := range sss.Len() {
			spans := sss.At(j).Spans()
			for k := range spans.Len() {
				if spans.At(k).ParentSpanID().IsEmpty() {
					n++
				}
			}
		}
	}
	return n
}

func printGraph(g trafficgen.Graph) {
	width := 0
	for _, s := range g.Services {
		width = max(width, len(s.Name))
	}
	fmt.Printf("%d services, %d edges\n", len(g.Services), len(g.Edges))
	for _, s := range g.Services {
		role := ""
		if s.Entry {
			role = "entry"
		}
		fmt.Printf("  %-*s %-5s self %6v  errors %.2f%%\n", width, s.Name, role, s.SelfMedian.Round(100*time.Microsecond), 100*s.ErrorRate)
	}
	fmt.Println("edges (client -> server, probability per request, calls each time):")
	for _, e := range g.Edges {
		fmt.Printf("  %-*s -> %-*s p=%.2f ×%d\n", width, e.Client, width, e.Server, e.Probability, e.Calls)
	}
	fmt.Printf("entry services: %s\n", strings.Join(g.Entries(), ", "))
}
