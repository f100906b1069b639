package shim

/*
#include <stdlib.h>
#include "fas/fas.h"
*/
import "C"

import (
	"fmt"
	"runtime"
	"time"
	"unsafe"
)

// GroupConfig says how a process joins a group of ranks (c10d: a TCPStore served by rank 0,
// Gloo on CPU, NCCL on CUDA).
type GroupConfig struct {
	Rank, World int
	MasterAddr  string // default 127.0.0.1
	MasterPort  int
	Backend     string        // "" or "auto", "gloo", "nccl"
	Interface   string        // Gloo: bind to this network interface
	Hostname    string        // Gloo: bind to this address or host name
	Timeout     time.Duration // store and collectives; 0 = 3 minutes
	// AgentStore: a launcher serves the store at MasterPort (torchrun sets
	// TORCHELASTIC_USE_AGENT_STORE); rank 0 connects to it instead of serving one.
	AgentStore bool
}

// Group is this process's membership in a process group. Its collectives block until every
// rank joins them or the timeout passes; a failed collective (a rank died or hangs) is an
// ErrTorch naming this rank, after which the group is unusable. Not for concurrent use:
// every rank must call the same collectives in the same order.
type Group struct {
	h       *handle[*C.fas_pg]
	cfg     GroupConfig
	backend string
}

// NewGroup joins the group (rank 0 serves the store), waiting up to the timeout for all ranks.
func NewGroup(cfg GroupConfig) (*Group, error) {
	if err := checkABI(); err != nil {
		return nil, err
	}
	if cfg.MasterAddr == "" {
		cfg.MasterAddr = "127.0.0.1"
	}
	if cfg.Timeout == 0 {
		cfg.Timeout = 3 * time.Minute
	}
	addr, backend := C.CString(cfg.MasterAddr), C.CString(cfg.Backend)
	iface, host := C.CString(cfg.Interface), C.CString(cfg.Hostname)
	defer C.free(unsafe.Pointer(addr))
	defer C.free(unsafe.Pointer(backend))
	defer C.free(unsafe.Pointer(iface))
	defer C.free(unsafe.Pointer(host))
	c := C.fas_pg_config{rank: C.int(cfg.Rank), world_size: C.int(cfg.World), master_addr: addr,
		master_port: C.int(cfg.MasterPort), backend: backend, timeout_s: C.double(cfg.Timeout.Seconds()),
		agent_store: cbool(cfg.AgentStore)}
	if cfg.Interface != "" {
		c.iface = iface
	}
	if cfg.Hostname != "" {
		c.hostname = host
	}
	var p *C.fas_pg
	if err := statusError("join process group", C.fas_pg_new(&c, &p)); err != nil {
		return nil, err
	}
	g := &Group{h: newHandle(p, func(p *C.fas_pg) { C.fas_pg_free(p) }), cfg: cfg}
	var name [16]C.char
	if err := g.use("process group", func(p *C.fas_pg) error {
		return statusError("process group", C.fas_pg_backend(p, &name[0]))
	}); err != nil {
		g.Close()
		return nil, err
	}
	g.backend = C.GoString(&name[0])
	runtime.AddCleanup(g, func(h *handle[*C.fas_pg]) { h.close() }, g.h)
	return g, nil
}

// Rank, World and Backend describe the group.
func (g *Group) Rank() int       { return g.cfg.Rank }
func (g *Group) World() int      { return g.cfg.World }
func (g *Group) Backend() string { return g.backend }

// Close leaves the group. Idempotent.
func (g *Group) Close() error {
	if g != nil {
		g.h.close()
	}
	return nil
}

func (g *Group) use(op string, fn func(p *C.fas_pg) error) error {
	if g == nil {
		return fmt.Errorf("%s: nil process group: %w", op, ErrClosed)
	}
	return g.h.use(op, fn)
}

// Barrier returns once every rank reached it.
func (g *Group) Barrier() error {
	return g.use("barrier", func(p *C.fas_pg) error { return statusError("barrier", C.fas_pg_barrier(p)) })
}

// AllReduceSum replaces v by its element-wise sum over the ranks (len(v) the same everywhere).
func (g *Group) AllReduceSum(v []float64) error {
	if len(v) == 0 {
		return nil
	}
	err := g.use("allreduce", func(p *C.fas_pg) error {
		return statusError("allreduce", C.fas_pg_allreduce_f64(p, (*C.double)(&v[0]), C.int64_t(len(v))))
	})
	runtime.KeepAlive(v)
	return err
}

// AllGather returns every rank's v, in rank order (len(v) the same everywhere).
func (g *Group) AllGather(v []float64) ([][]float64, error) {
	out := make([][]float64, g.World())
	if len(v) == 0 {
		return out, nil
	}
	flat := make([]float64, len(v)*g.World())
	err := g.use("allgather", func(p *C.fas_pg) error {
		return statusError("allgather", C.fas_pg_allgather_f64(p, (*C.double)(&v[0]), C.int64_t(len(v)), (*C.double)(&flat[0])))
	})
	runtime.KeepAlive(v)
	if err != nil {
		return nil, err
	}
	for r := range out {
		out[r] = flat[r*len(v) : (r+1)*len(v)]
	}
	return out, nil
}

// GatherVar returns every rank's v when the lengths differ between ranks.
func (g *Group) GatherVar(v []float64) ([][]float64, error) {
	n := []float64{float64(len(v))}
	counts, err := g.AllGather(n)
	if err != nil {
		return nil, err
	}
	longest := 0
	for _, c := range counts {
		longest = max(longest, int(c[0]))
	}
	padded := make([]float64, longest)
	copy(padded, v)
	all, err := g.AllGather(padded)
	if err != nil {
		return nil, err
	}
	for r := range all {
		all[r] = all[r][:int(counts[r][0])]
	}
	return all, nil
}

// BroadcastModel makes every parameter and buffer of m root's.
func (g *Group) BroadcastModel(m *Model, root int) error {
	return g.use("broadcast model", func(p *C.fas_pg) error {
		return m.use("broadcast model", func(mp *C.fas_model) error {
			return statusError("broadcast model", C.fas_pg_broadcast_model(p, mp, C.int(root)))
		})
	})
}

// SetGroup trains across g's ranks: parameters and buffers are broadcast from rank 0 now,
// and every step averages the gradients over the ranks before the optimizer update;
// averageState also averages the BN running statistics and the method's extra state
// (default: they stay per rank, as the reference trains).
func (t *Trainer) SetGroup(g *Group, averageState bool) error {
	return t.use("set process group", func(tp *C.fas_trainer) error {
		return g.use("set process group", func(p *C.fas_pg) error {
			return statusError("set process group", C.fas_trainer_set_process_group(tp, p, cbool(averageState)))
		})
	})
}

// GatherRankState returns the per-rank part of every rank's training state (buffers, the
// method's extra state, the generator), named "rank<R>/<name>"; a collective.
func (t *Trainer) GatherRankState() ([]StateTensor, error) {
	var l *C.fas_tensor_list
	err := t.use("gather rank state", func(p *C.fas_trainer) error {
		return statusError("gather rank state", C.fas_trainer_gather_rank_state(p, &l))
	})
	if err != nil {
		return nil, err
	}
	return takeList("gather rank state", l)
}
