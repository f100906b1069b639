// Command liveness-service is a small Go service in its own module that embeds fasgo's
// public package github.com/fasgo/fasgo/go/liveness, built against an installed shim:
//
//	make install PREFIX=$HOME/.local                      # in the fasgo tree
//	export PKG_CONFIG_PATH=$HOME/.local/lib/pkgconfig
//	go build -tags fasshim_installed -o liveness-service .
//	./liveness-service -model model.safetensors -face-crops face1.jpg face2.png   # one JSON line per image
//	./liveness-service -model model.safetensors -face-crops -addr 127.0.0.1:8081  # POST /score
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log"
	"net/http"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/fasgo/fasgo/go/liveness"
)

type answer struct {
	File        string  `json:"file,omitempty"`
	Decision    string  `json:"decision"`
	AttackScore float64 `json:"attack_score"`
	Threshold   float64 `json:"threshold"`
	Faces       int     `json:"faces"`
	Model       string  `json:"model_version"`
}

func toAnswer(file string, r liveness.Result) answer {
	return answer{File: file, Decision: string(r.Decision), AttackScore: r.AttackScore, Threshold: r.Threshold,
		Faces: r.Faces, Model: r.ModelVersion}
}

func main() {
	model := flag.String("model", "", "exported model (fas export)")
	addr := flag.String("addr", "", "serve POST /score on this address instead of scoring files")
	crops := flag.Bool("face-crops", false, "the images are face crops")
	threshold := flag.Float64("threshold", -1, "decision threshold (default: the model's)")
	flag.Parse()
	opts := []liveness.Option{liveness.WithMaxBatch(8)}
	if *crops {
		opts = append(opts, liveness.WithFaceCrops())
	}
	if *threshold >= 0 {
		opts = append(opts, liveness.WithThreshold(*threshold))
	}
	d, err := liveness.Open(*model, opts...)
	if err != nil {
		log.Fatal(err)
	}
	defer d.Close()
	if *addr == "" {
		enc := json.NewEncoder(os.Stdout)
		for _, f := range flag.Args() {
			b, err := os.ReadFile(f)
			if err != nil {
				log.Fatal(err)
			}
			r, err := d.ScoreBytes(context.Background(), b)
			if err != nil {
				log.Fatalf("%s: %v", f, err)
			}
			enc.Encode(toAnswer(f, r))
		}
		return
	}
	http.HandleFunc("/score", func(w http.ResponseWriter, r *http.Request) {
		b, err := io.ReadAll(http.MaxBytesReader(w, r.Body, 10<<20))
		if err != nil {
			http.Error(w, err.Error(), http.StatusRequestEntityTooLarge)
			return
		}
		res, err := d.ScoreBytes(r.Context(), b)
		switch {
		case errors.Is(err, liveness.ErrOverloaded):
			w.Header().Set("Retry-After", "1")
			http.Error(w, err.Error(), http.StatusServiceUnavailable)
			return
		case err != nil:
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		json.NewEncoder(w).Encode(toAnswer("", res))
	})
	srv := &http.Server{Addr: *addr, ReadTimeout: 30 * time.Second, WriteTimeout: 30 * time.Second}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, os.Interrupt)
	defer stop()
	go func() {
		<-ctx.Done()
		sctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		srv.Shutdown(sctx)
	}()
	fmt.Fprintln(os.Stderr, "listening on", *addr)
	if err := srv.ListenAndServe(); err != nil && !errors.Is(err, http.ErrServerClosed) {
		log.Fatal(err)
	}
}
