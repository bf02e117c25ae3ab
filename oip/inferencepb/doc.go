// Package inferencepb is the Go code generated from inference.proto, the
// Open Inference Protocol's gRPC service (KServe predict API v2, Triton's
// GRPCInferenceService). cmd/serve implements the server side; the
// generated client is what its conformance tests speak.
package inferencepb

//go:generate protoc --go_out=. --go_opt=paths=source_relative --go-grpc_out=. --go-grpc_opt=paths=source_relative inference.proto
