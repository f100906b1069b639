package dataset

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"sync"
)

// Domain is one source domain's training lists.
type Domain struct {
	Name         string
	Live, Attack []Entry
}

// TrainPlan decides which entries make up each training step.
//
// The rule, following the reference's DG_Dataset: within a class (live or attack) the
// index range of an epoch is the longest domain list, and shorter domain lists wrap
// around (index mod length), so one index picks one entry from every domain. Each epoch
// shuffles each class's index range with a permutation drawn from (seed, epoch, class);
// rank r of world w takes every w-th index starting at r (as PyTorch's
// DistributedSampler), so ranks see disjoint indices. Every rank runs
//
//	Steps = floor(min(N_live, N_attack) / (B · world))
//
// steps per epoch, where N_c is the longest domain list of class c; the class with fewer
// indices bounds the epoch and the rest of the longer class's permutation is unused.
type TrainPlan struct {
	Domains           []Domain
	B, Rank, World    int
	Seed              uint64
	nLive, nAttack    int
	steps             int
	mu                sync.Mutex // guards the epoch's permutations
	epoch             int
	permLive, permAtt []int
}

// NewTrainPlan checks the domains and batch geometry.
func NewTrainPlan(domains []Domain, b, rank, world int, seed uint64) (*TrainPlan, error) {
	if len(domains) == 0 {
		return nil, errors.New("dataset: no training domains")
	}
	if b <= 0 || world <= 0 || rank < 0 || rank >= world {
		return nil, fmt.Errorf("dataset: bad batch geometry B=%d rank=%d world=%d", b, rank, world)
	}
	p := &TrainPlan{Domains: domains, B: b, Rank: rank, World: world, Seed: seed, epoch: -1}
	for _, d := range domains {
		if len(d.Live) == 0 || len(d.Attack) == 0 {
			return nil, fmt.Errorf("dataset: domain %q has %d live and %d attack entries; both must be non-empty", d.Name, len(d.Live), len(d.Attack))
		}
		for _, e := range d.Live {
			if e.Label != Live {
				return nil, fmt.Errorf("dataset: domain %q: %s is labelled attack in a live list", d.Name, e.Where())
			}
		}
		for _, e := range d.Attack {
			if e.Label != Attack {
				return nil, fmt.Errorf("dataset: domain %q: %s is labelled live in an attack list", d.Name, e.Where())
			}
		}
		p.nLive, p.nAttack = max(p.nLive, len(d.Live)), max(p.nAttack, len(d.Attack))
	}
	p.steps = min(p.nLive, p.nAttack) / (b * world)
	if p.steps == 0 {
		return nil, fmt.Errorf("dataset: %d live / %d attack indices are fewer than B·world = %d: no full step", p.nLive, p.nAttack, b*world)
	}
	return p, nil
}

// K is the number of domains.
func (p *TrainPlan) K() int { return len(p.Domains) }

// Steps is the number of steps per epoch, the same on every rank.
func (p *TrainPlan) Steps() int { return p.steps }

// Entry returns the entry at slot j (0..2B-1: B live, then B attack) of domain k in step
// s of epoch e.
func (p *TrainPlan) Entry(e, s, k, j int) *Entry {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.shuffle(e)
	perm, list := p.permLive, p.Domains[k].Live
	if j >= p.B {
		perm, list, j = p.permAtt, p.Domains[k].Attack, j-p.B
	}
	idx := perm[(s*p.B+j)*p.World+p.Rank]
	return &list[idx%len(list)]
}

// shuffle draws the epoch's permutations when the epoch changes (p.mu held).
func (p *TrainPlan) shuffle(e int) {
	if p.epoch == e {
		return
	}
	p.epoch = e
	p.permLive = rand.New(rand.NewPCG(p.Seed, mix(uint64(e), 0))).Perm(p.nLive)
	p.permAtt = rand.New(rand.NewPCG(p.Seed, mix(uint64(e), 1))).Perm(p.nAttack)
}

// mix combines integers into a well-spread 64-bit seed (splitmix64 steps).
func mix(v ...uint64) uint64 {
	h := uint64(0x9E3779B97F4A7C15)
	for _, x := range v {
		h ^= x + 0x9E3779B97F4A7C15 + (h << 6) + (h >> 2)
		h ^= h >> 30
		h *= 0xBF58476D1CE4E5B9
		h ^= h >> 27
		h *= 0x94D049BB133111EB
		h ^= h >> 31
	}
	return h
}

// EvalSet is every frame of some lists, in list order, for validation or testing.
type EvalSet struct {
	Entries []Entry
	Domain  []string // domain name of each entry
}

// AddDomain appends a domain's live then attack entries.
func (s *EvalSet) AddDomain(name string, lists ...[]Entry) {
	for _, l := range lists {
		for _, e := range l {
			s.Entries = append(s.Entries, e)
			s.Domain = append(s.Domain, name)
		}
	}
}

// Shard returns the frames of rank r of world w: indices r, r+w, r+2w, ... (each frame on
// exactly one rank; rank shares differ by at most one frame).
func (s *EvalSet) Shard(rank, world int) *EvalSet {
	out := &EvalSet{}
	for i := rank; i < len(s.Entries); i += world {
		out.Entries = append(out.Entries, s.Entries[i])
		out.Domain = append(out.Domain, s.Domain[i])
	}
	return out
}
