//go:build !unix

package main

// watchResize: no size-change signal here; the size is read when needed.
func watchResize() <-chan struct{} { return nil }
