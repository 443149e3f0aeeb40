-- wrk script for permesi's token endpoint.
--   MODE=client_credentials: the same client_secret_basic request again and again.
--   MODE=code: one pre-made authorization code per request ($BODIES, one form body a line),
--   thread i of n taking lines i, i+n, ... so no code is sent twice.
local threads = {}
local counter = 0

function setup(thread)
  thread:set("id", counter)
  table.insert(threads, thread)
  counter = counter + 1
end

function init(args)
  wrk.method = "POST"
  wrk.path = "/oauth/token"
  wrk.headers["Content-Type"] = "application/x-www-form-urlencoded"
  wrk.headers["Authorization"] = "Basic " .. os.getenv("BASIC")
  mode = os.getenv("MODE")
  if mode == "code" then
    local n = tonumber(os.getenv("THREADS"))
    bodies = {}
    local i = 0
    for line in io.lines(os.getenv("BODIES")) do
      if i % n == id then
        bodies[#bodies + 1] = line
      end
      i = i + 1
    end
    next_body = 1
  else
    wrk.body = "grant_type=client_credentials&scope=api%3Aread"
  end
end

function request()
  if mode == "code" then
    local body = bodies[next_body]
    if body == nil then
      body = "grant_type=authorization_code&code=exhausted"
    end
    next_body = next_body + 1
    return wrk.format(nil, nil, nil, body)
  end
  return wrk.format()
end
