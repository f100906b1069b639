module example.com/liveness-service

go 1.26.0

require github.com/fasgo/fasgo v0.0.0

// The fasgo source tree this example sits in. A service elsewhere points this at its
// checkout of fasgo, or drops it and requires a published version.
replace github.com/fasgo/fasgo => ../../..
