package main

import (
	"errors"
	"fmt"
	"net"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/urfave/cli/v2"
	"go.uber.org/zap"

	"github.com/fasgo/fasgo/go/internal/logging"
	"github.com/fasgo/fasgo/go/internal/serve"
	"github.com/fasgo/fasgo/go/liveness"
)

func init() { register("", serveCommand) }

func serveCommand() *cli.Command {
	return &cli.Command{
		Name:  "serve",
		Usage: "serve an exported model over HTTP: POST /v1/liveness, GET /livez, /readyz, /metrics",
		Description: "POST /v1/liveness takes an image as the body (Content-Type image/jpeg, image/png or\n" +
			"application/octet-stream) or as the \"image\" part of a multipart/form-data form, and an optional\n" +
			"threshold (?threshold=T or a \"threshold\" form field); it answers the Result as JSON. /readyz is\n" +
			"200 once the model is loaded. SIGTERM or SIGINT: new requests get 503, the requests in flight\n" +
			"finish, then the process exits.",
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "model", Aliases: []string{"m"}, Required: true, Usage: "exported model (fas export), or an ensemble: a directory or manifest (fas import silentface)"},
			&cli.StringFlag{Name: "addr", Value: ":8080", Usage: "listen address"},
			&cli.BoolFlag{Name: "face-crops", Usage: "every request is a face crop framed as the training images (no face detection)"},
			&cli.Float64Flag{Name: "threshold", Usage: "decision threshold instead of the model's calibrated one (or of an argmax model's rule)"},
			&cli.IntFlag{Name: "max-batch", Value: 8, Usage: "most images per network call"},
			&cli.DurationFlag{Name: "max-wait", Value: 2 * time.Millisecond, Usage: "how long the first image of a batch waits for more"},
			&cli.IntFlag{Name: "queue", Usage: "images waiting for the network before requests get 503 (default 4 × --max-batch)"},
			&cli.IntFlag{Name: "max-inflight", Value: 64, Usage: "requests handled at once before more get 503"},
			&cli.Int64Flag{Name: "max-body", Value: 10 << 20, Usage: "largest request body in bytes"},
			&cli.IntFlag{Name: "max-side", Value: 8192, Usage: "largest image side in pixels (checked before decoding)"},
			&cli.Int64Flag{Name: "max-pixels", Value: 40_000_000, Usage: "largest image in pixels (checked before decoding)"},
			&cli.DurationFlag{Name: "shutdown-timeout", Value: 30 * time.Second, Usage: "how long requests in flight get on shutdown"},
			&cli.StringFlag{Name: "device", Value: "cpu", Usage: "cpu, cuda or cuda:N"},
			&cli.BoolFlag{Name: "fast-kernels", Usage: "batch-blocked kernels: faster, but a score then depends in its last bits on its batch companions"},
			&cli.StringFlag{Name: "log-json", Usage: "also write JSON log lines (access logs included) to this file; - for stdout"},
			&cli.BoolFlag{Name: "quiet", Usage: "no console log"},
			threadsFlag(),
		},
		Action: runServe,
	}
}

func runServe(c *cli.Context) error {
	if err := noArgs(c); err != nil {
		return err
	}
	threads, err := cliThreads(c)
	if err != nil {
		return err
	}
	lo := logging.Options{Quiet: c.Bool("quiet"), Console: c.App.ErrWriter}
	switch f := c.String("log-json"); f {
	case "":
	case "-":
		lo.JSON = c.App.Writer
	default:
		lo.JSONFile = f
	}
	log, closeLog, err := logging.New(lo)
	if err != nil {
		return err
	}
	defer closeLog()
	opts := []liveness.Option{liveness.WithThreads(threads), liveness.WithDevice(c.String("device")),
		liveness.WithMaxBatch(c.Int("max-batch")), liveness.WithMaxWait(c.Duration("max-wait")),
		liveness.WithMaxImage(c.Int("max-side"), c.Int64("max-pixels"))}
	if c.IsSet("queue") {
		opts = append(opts, liveness.WithQueueSize(c.Int("queue")))
	}
	if c.Bool("face-crops") {
		opts = append(opts, liveness.WithFaceCrops())
	}
	if c.IsSet("threshold") {
		opts = append(opts, liveness.WithThreshold(c.Float64("threshold")))
	}
	if c.Bool("fast-kernels") {
		opts = append(opts, liveness.WithFastKernels())
	}
	srv := serve.New(log, serve.Options{MaxBody: c.Int64("max-body"), MaxInFlight: c.Int("max-inflight"),
		ShutdownTimeout: c.Duration("shutdown-timeout")})
	opts = append(opts, liveness.WithBatchObserver(srv.ObserveBatch))
	path := c.String("model")
	if _, err := os.Stat(path); err != nil { // fail before listening
		return fmt.Errorf("--model: %w", err)
	}
	ln, err := net.Listen("tcp", c.String("addr"))
	if err != nil {
		return fmt.Errorf("--addr: %w", err)
	}
	ctx, stop := signal.NotifyContext(c.Context, syscall.SIGTERM, syscall.SIGINT)
	defer stop()
	log.Info("listening", zap.String("addr", ln.Addr().String()), zap.String("model", path))
	return srv.Run(ctx, ln, func() (*liveness.Detector, error) {
		d, err := liveness.Open(path, opts...)
		switch {
		case errors.Is(err, liveness.ErrNoDetector):
			return nil, fmt.Errorf("fas serve: %w (give --face-crops when every request is a face crop)", err)
		case errors.Is(err, liveness.ErrNoThreshold):
			return nil, fmt.Errorf("%s has no calibrated threshold: give --threshold (or export it calibrated)", path)
		}
		return d, err
	})
}
