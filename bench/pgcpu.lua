-- wrk script for bench/pgcpu.sh: POSTs the GraphQL bodies in the files named
-- by BENCH_BODIES (colon-separated; requests cycle through them) with the
-- Authorization value in BENCH_AUTH, and ends wrk once BENCH_REQUESTS answers
-- have come back (run it with one thread), printing one RESULT line.

local function read(path)
  local f = assert(io.open(path, "rb"))
  local s = f:read("*a")
  f:close()
  return s
end

local requests = {}
local n = 0
local answered = 0
local non2xx = 0
local limit = tonumber(os.getenv("BENCH_REQUESTS"))

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

-- wrk has no request count of its own (thread:stop() still waits out -d),
-- so the script ends the process at the count; the few requests still in
-- flight are dropped.
function response(status, headers, body)
  answered = answered + 1
  if status < 200 or status > 299 then
    non2xx = non2xx + 1
  end
  if answered >= limit then
    io.write(string.format("RESULT requests=%d non2xx=%d\n", answered, non2xx))
    io.stdout:flush()
    os.exit(0)
  end
end
