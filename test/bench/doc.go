// Package bench measures microseg's core at scale: loading, compiling and diffing a
// generated policy with 10,000 segments and 100,000 allows. Run it with `make bench`,
// which reports ns/op, B/op and the peak resident set size of each benchmark.
package bench
