import sys, time, zmq, msgpack, statistics
ep = sys.argv[1]
ctx = zmq.Context(); s = ctx.socket(zmq.DEALER); s.connect(ep)
rec = msgpack.packb([1, None, None, {"n": 1}])
lat = []
for i in range(1, 501):
    t = time.perf_counter()
    s.send_multipart([bytes([0x53, 0x4C, 1, 3]), msgpack.packb({"stream": "l", "producer": "lat", "seq": i, "count": 1}), rec])
    while True:
        f = s.recv_multipart()
        if f[0][3] == 4: break
    lat.append((time.perf_counter() - t) * 1e6)
lat.sort()
print(f"confirm latency, one record per PUBLISH, 500 in a row: p50 {lat[250]:.0f} us, p99 {lat[495]:.0f} us")
