-- wrk script: POST pre-solved challenges to /v1/admission, each exactly once.
-- Thread i of n takes lines i, i+n, i+2n... of $BODIES, so no body is sent twice.
local threads = {}
local counter = 0

function setup(thread)
  thread:set("id", counter)
  table.insert(threads, thread)
  counter = counter + 1
end

function init(args)
  local path = os.getenv("BODIES")
  local n = tonumber(os.getenv("THREADS"))
  bodies = {}
  local i = 0
  for line in io.lines(path) do
    if i % n == id then
      bodies[#bodies + 1] = line
    end
    i = i + 1
  end
  next_body = 1
  exhausted = 0
  wrk.method = "POST"
  wrk.path = "/v1/admission"
  wrk.headers["Content-Type"] = "application/json"
end

function request()
  local body = bodies[next_body]
  if body == nil then
    exhausted = exhausted + 1
    body = bodies[1]
  end
  next_body = next_body + 1
  return wrk.format(nil, nil, nil, body)
end

function done(summary, latency, requests)
  local non2xx = summary.errors.status
  io.write(string.format("admission: %d requests, %.0f/s, non-2xx %d, p50 %.2f ms, p99 %.2f ms\n",
    summary.requests, summary.requests / (summary.duration / 1e6), non2xx,
    latency:percentile(50) / 1000, latency:percentile(99) / 1000))
end
