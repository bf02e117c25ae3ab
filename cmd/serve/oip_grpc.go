package main

// The Open Inference Protocol's gRPC binding (GRPCInferenceService of
// oip/inferencepb) over the same model, limits and metrics as the HTTP
// API: tensors come as typed contents or as raw_input_contents (what
// Triton's clients send), and the outputs go back the same way.

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"net/http"
	"strconv"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/embtab/embtab/oip/inferencepb"
	"github.com/embtab/embtab/quant"
)

type oipGRPC struct {
	inferencepb.UnimplementedGRPCInferenceServiceServer
	s *server
}

// newGRPCServer returns a gRPC server with the inference service, its
// messages bounded by --max-body, each call by --request-timeout, with
// panics recovered and calls counted and timed.
func (s *server) newGRPCServer() *grpc.Server {
	g := grpc.NewServer(
		grpc.MaxRecvMsgSize(int(min(s.cfg.MaxBodyBytes, math.MaxInt32))),
		grpc.ChainUnaryInterceptor(s.grpcInterceptor),
	)
	inferencepb.RegisterGRPCInferenceServiceServer(g, &oipGRPC{s: s})
	return g
}

func (s *server) grpcInterceptor(ctx context.Context, req any, info *grpc.UnaryServerInfo, h grpc.UnaryHandler) (resp any, err error) {
	start := time.Now()
	s.met.inflight.Inc()
	defer func() {
		if p := recover(); p != nil {
			s.log.Error("panic in gRPC handler", "method", info.FullMethod, "panic", p)
			resp, err = nil, status.Error(codes.Internal, "internal error")
		}
		s.met.inflight.Dec()
		d := time.Since(start)
		code := status.Code(err)
		s.met.grpcRequests.WithLabelValues(info.FullMethod, code.String()).Inc()
		s.met.grpcLatency.WithLabelValues(info.FullMethod).Observe(d.Seconds())
		s.log.Debug("grpc request", "method", info.FullMethod, "code", code.String(), "ms", float64(d.Microseconds())/1000)
	}()
	ctx, cancel := context.WithTimeout(ctx, s.cfg.RequestTimeout)
	defer cancel()
	resp, err = h(ctx, req)
	return resp, s.grpcError(info.FullMethod, err)
}

// grpcError maps the service's errors to gRPC status codes.
func (s *server) grpcError(method string, err error) error {
	if err == nil {
		return nil
	}
	if _, ok := status.FromError(err); ok {
		return err
	}
	var re *requestError
	switch {
	case errors.As(err, &re):
		c := codes.InvalidArgument
		switch re.status {
		case http.StatusNotFound:
			c = codes.NotFound
		case http.StatusRequestEntityTooLarge, http.StatusTooManyRequests:
			c = codes.ResourceExhausted
		case http.StatusServiceUnavailable:
			c = codes.Unavailable
		}
		return status.Error(c, re.msg)
	case errors.Is(err, context.DeadlineExceeded):
		return status.Errorf(codes.DeadlineExceeded, "timed out after %v", s.cfg.RequestTimeout)
	case errors.Is(err, context.Canceled):
		return status.Error(codes.Canceled, "client canceled the request")
	}
	s.log.Warn("grpc request failed", "method", method, "err", err)
	return status.Error(codes.Internal, "internal error")
}

func (g *oipGRPC) ServerLive(context.Context, *inferencepb.ServerLiveRequest) (*inferencepb.ServerLiveResponse, error) {
	return &inferencepb.ServerLiveResponse{Live: true}, nil
}

func (g *oipGRPC) ServerReady(context.Context, *inferencepb.ServerReadyRequest) (*inferencepb.ServerReadyResponse, error) {
	return &inferencepb.ServerReadyResponse{Ready: g.s.ready.Load() && g.s.anyModel()}, nil
}

func (g *oipGRPC) ModelReady(_ context.Context, r *inferencepb.ModelReadyRequest) (*inferencepb.ModelReadyResponse, error) {
	m, err := g.s.oipModel(r.GetName(), r.GetVersion())
	if err != nil {
		var re *requestError
		if errors.As(err, &re) && re.status == http.StatusNotFound {
			return nil, err
		}
		return &inferencepb.ModelReadyResponse{Ready: false}, nil
	}
	m.release()
	return &inferencepb.ModelReadyResponse{Ready: g.s.ready.Load()}, nil
}

func (g *oipGRPC) ServerMetadata(context.Context, *inferencepb.ServerMetadataRequest) (*inferencepb.ServerMetadataResponse, error) {
	m := serverMetadata()
	return &inferencepb.ServerMetadataResponse{Name: m.Name, Version: m.Version, Extensions: m.Extensions}, nil
}

func (g *oipGRPC) ModelMetadata(_ context.Context, r *inferencepb.ModelMetadataRequest) (*inferencepb.ModelMetadataResponse, error) {
	meta, err := g.s.oipMetadata(r.GetName(), r.GetVersion())
	if err != nil {
		return nil, err
	}
	conv := func(ts []oipTensorMeta) []*inferencepb.ModelMetadataResponse_TensorMetadata {
		out := make([]*inferencepb.ModelMetadataResponse_TensorMetadata, len(ts))
		for i, t := range ts {
			out[i] = &inferencepb.ModelMetadataResponse_TensorMetadata{Name: t.Name, Datatype: t.Datatype, Shape: t.Shape}
		}
		return out
	}
	return &inferencepb.ModelMetadataResponse{Name: meta.Name, Versions: meta.Versions, Platform: meta.Platform,
		Inputs: conv(meta.Inputs), Outputs: conv(meta.Outputs)}, nil
}

func (g *oipGRPC) ModelInfer(ctx context.Context, r *inferencepb.ModelInferRequest) (*inferencepb.ModelInferResponse, error) {
	done, err := g.s.enterWork(ctx)
	if err != nil {
		return nil, err
	}
	defer done()
	inputs, err := grpcInputs(r, g.s.maxTensorElems())
	if err != nil {
		return nil, err
	}
	var outputs []string
	for _, o := range r.GetOutputs() {
		outputs = append(outputs, o.GetName())
	}
	version, outs, err := g.s.oipInfer(ctx, r.GetModelName(), r.GetModelVersion(), inputs, outputs)
	if err != nil {
		return nil, err
	}
	resp := &inferencepb.ModelInferResponse{ModelName: r.GetModelName(), ModelVersion: version, Id: r.GetId()}
	raw := len(r.GetRawInputContents()) > 0
	for _, o := range outs {
		t := &inferencepb.ModelInferResponse_InferOutputTensor{Name: o.Name, Datatype: "FP32", Shape: o.Shape}
		if raw {
			b := make([]byte, 4*len(o.Data))
			for i, v := range o.Data {
				binary.LittleEndian.PutUint32(b[4*i:], math.Float32bits(v))
			}
			resp.RawOutputContents = append(resp.RawOutputContents, b)
		} else {
			t.Contents = &inferencepb.InferTensorContents{Fp32Contents: o.Data}
		}
		resp.Outputs = append(resp.Outputs, t)
	}
	return resp, nil
}

// grpcInputs decodes a request's input tensors from their typed contents
// or from raw_input_contents.
func grpcInputs(r *inferencepb.ModelInferRequest, maxElems int) ([]oipTensor, error) {
	ins, raw := r.GetInputs(), r.GetRawInputContents()
	if len(raw) > 0 && len(raw) != len(ins) {
		return nil, badRequest("%d raw_input_contents for %d inputs: want one per input", len(raw), len(ins))
	}
	ts := make([]oipTensor, len(ins))
	for k, in := range ins {
		t := oipTensor{Name: in.GetName(), Datatype: in.GetDatatype(), Shape: in.GetShape()}
		if t.Name == "" {
			return nil, badRequest("input %d has no name", k)
		}
		if !oipDatatypes[t.Datatype] {
			return nil, badRequest("input %q: unknown datatype %q", t.Name, t.Datatype)
		}
		var err error
		if len(raw) > 0 {
			if in.GetContents() != nil {
				return nil, badRequest("input %q has contents and raw_input_contents: send one", t.Name)
			}
			err = rawTensor(&t, raw[k], maxElems)
		} else {
			err = contentsTensor(&t, in.GetContents())
		}
		if err != nil {
			return nil, err
		}
		if t.n > maxElems {
			return nil, &requestError{status: http.StatusRequestEntityTooLarge, msg: fmt.Sprintf("input %q: %d elements, more than --max-batch %d", t.Name, t.n, maxElems)}
		}
		ts[k] = t
	}
	return ts, nil
}

// setInts, setUints and setFloats give t the accessors of typed elements.
func setInts[T int32 | int64](t *oipTensor, v []T) {
	t.n = len(v)
	t.str = func(i int) string { return strconv.FormatInt(int64(v[i]), 10) }
	t.num = func(i int) (float64, error) { return float64(v[i]), nil }
}

func setUints[T uint32 | uint64](t *oipTensor, v []T) {
	t.n = len(v)
	t.str = func(i int) string { return strconv.FormatUint(uint64(v[i]), 10) }
	t.num = func(i int) (float64, error) { return float64(v[i]), nil }
}

func setFloats[T float32 | float64](t *oipTensor, v []T, bits int) {
	t.n = len(v)
	t.str = func(i int) string { return strconv.FormatFloat(float64(v[i]), 'g', -1, bits) }
	t.num = func(i int) (float64, error) { return float64(v[i]), nil }
}

func setBytes(t *oipTensor, v [][]byte) {
	t.n = len(v)
	t.str = func(i int) string { return string(v[i]) }
	t.num = func(i int) (float64, error) { return strconv.ParseFloat(string(v[i]), 64) }
}

func setBools(t *oipTensor, v []bool) {
	t.n = len(v)
	t.str = func(i int) string { return strconv.FormatBool(v[i]) }
	t.num = func(i int) (float64, error) {
		if v[i] {
			return 1, nil
		}
		return 0, nil
	}
}

// contentsTensor reads t's elements from the contents field of its
// datatype.
func contentsTensor(t *oipTensor, c *inferencepb.InferTensorContents) error {
	if c == nil {
		return badRequest("input %q has no contents (and the request no raw_input_contents)", t.Name)
	}
	switch t.Datatype {
	case "BOOL":
		setBools(t, c.GetBoolContents())
	case "INT8", "INT16", "INT32":
		setInts(t, c.GetIntContents())
	case "INT64":
		setInts(t, c.GetInt64Contents())
	case "UINT8", "UINT16", "UINT32":
		setUints(t, c.GetUintContents())
	case "UINT64":
		setUints(t, c.GetUint64Contents())
	case "FP32":
		setFloats(t, c.GetFp32Contents(), 32)
	case "FP64":
		setFloats(t, c.GetFp64Contents(), 64)
	case "BYTES":
		setBytes(t, c.GetBytesContents())
	default:
		return badRequest("input %q: %s tensors only come as raw_input_contents", t.Name, t.Datatype)
	}
	return nil
}

// oipElemSize is the raw width of each fixed-size datatype.
var oipElemSize = map[string]int{"BOOL": 1, "INT8": 1, "UINT8": 1, "INT16": 2, "UINT16": 2, "FP16": 2,
	"INT32": 4, "UINT32": 4, "FP32": 4, "INT64": 8, "UINT64": 8, "FP64": 8}

// rawTensor reads t's elements from its raw little-endian bytes.
func rawTensor(t *oipTensor, b []byte, maxElems int) error {
	size := oipElemSize[t.Datatype]
	if t.Datatype == "BYTES" {
		var v [][]byte
		for len(b) > 0 {
			if len(b) < 4 {
				return badRequest("input %q: raw BYTES end inside an element's 4-byte length", t.Name)
			}
			n := binary.LittleEndian.Uint32(b)
			if uint64(n) > uint64(len(b)-4) {
				return badRequest("input %q: raw BYTES element of %d bytes, %d left", t.Name, n, len(b)-4)
			}
			if len(v) == maxElems {
				return &requestError{status: http.StatusRequestEntityTooLarge, msg: fmt.Sprintf("input %q: more than --max-batch %d elements", t.Name, maxElems)}
			}
			v = append(v, b[4:4+n])
			b = b[4+n:]
		}
		setBytes(t, v)
		return nil
	}
	if len(b)%size != 0 {
		return badRequest("input %q: %d raw bytes is not a whole number of %d-byte %s elements", t.Name, len(b), size, t.Datatype)
	}
	n := len(b) / size
	if n > maxElems {
		return &requestError{status: http.StatusRequestEntityTooLarge, msg: fmt.Sprintf("input %q: %d elements, more than --max-batch %d", t.Name, n, maxElems)}
	}
	le := binary.LittleEndian
	switch t.Datatype {
	case "BOOL":
		v := make([]bool, n)
		for i := range v {
			v[i] = b[i] != 0
		}
		setBools(t, v)
	case "INT8", "INT16", "INT32", "INT64":
		v := make([]int64, n)
		for i := range v {
			switch size {
			case 1:
				v[i] = int64(int8(b[i]))
			case 2:
				v[i] = int64(int16(le.Uint16(b[2*i:])))
			case 4:
				v[i] = int64(int32(le.Uint32(b[4*i:])))
			default:
				v[i] = int64(le.Uint64(b[8*i:]))
			}
		}
		setInts(t, v)
	case "UINT8", "UINT16", "UINT32", "UINT64":
		v := make([]uint64, n)
		for i := range v {
			switch size {
			case 1:
				v[i] = uint64(b[i])
			case 2:
				v[i] = uint64(le.Uint16(b[2*i:]))
			case 4:
				v[i] = uint64(le.Uint32(b[4*i:]))
			default:
				v[i] = le.Uint64(b[8*i:])
			}
		}
		setUints(t, v)
	case "FP16":
		v := make([]float32, n)
		for i := range v {
			v[i] = quant.FromFloat16(le.Uint16(b[2*i:]))
		}
		setFloats(t, v, 32)
	case "FP32":
		v := make([]float32, n)
		for i := range v {
			v[i] = math.Float32frombits(le.Uint32(b[4*i:]))
		}
		setFloats(t, v, 32)
	case "FP64":
		v := make([]float64, n)
		for i := range v {
			v[i] = math.Float64frombits(le.Uint64(b[8*i:]))
		}
		setFloats(t, v, 64)
	}
	return nil
}
