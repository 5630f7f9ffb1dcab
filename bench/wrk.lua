-- wrk script for bench/run.sh: POSTs the GraphQL bodies in the files named by
-- BENCH_BODIES (colon-separated; requests cycle through them, so Q2 alternates
-- its first and second page) with the Authorization value in BENCH_AUTH, and
-- prints one machine-readable RESULT line when done.

local function read(path)
  local f = assert(io.open(path, "rb"))
  local s = f:read("*a")
  f:close()
  return s
end

local requests = {}
local n = 0

function init(args)
  local headers = {
    ["Content-Type"] = "application/json",
    ["Authorization"] = os.getenv("BENCH_AUTH"),
  }
  for path in string.gmatch(os.getenv("BENCH_BODIES"), "[^:]+") do
    requests[#requests + 1] = wrk.format("POST", "/graphql", headers, read(path))
  end
end

function request()
  n = n % #requests + 1
  return requests[n]
end

function done(summary, latency, _)
  io.write(string.format("RESULT requests=%d duration_us=%d p50_us=%d p99_us=%d non2xx=%d errors=%d\n",
    summary.requests, summary.duration, latency:percentile(50), latency:percentile(99),
    summary.errors.status, summary.errors.connect + summary.errors.read + summary.errors.write + summary.errors.timeout))
end
