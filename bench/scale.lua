-- wrk script of bench/scale.py: a bearer token, GETs as given or unique POST /Users bodies,
-- and one machine-readable summary line.
-- Environment: SCALE_TOKEN (optional), SCALE_MODE ("get" or "post-user"), SCALE_RUN (a tag).
local token = os.getenv("SCALE_TOKEN") or ""
local mode = os.getenv("SCALE_MODE") or "get"
local run = os.getenv("SCALE_RUN") or tostring(os.time())
local counter = 0

function init(args)
   if token ~= "" then wrk.headers["Authorization"] = "Bearer " .. token end
   wrk.headers["Accept"] = "application/scim+json"
   if mode == "post-user" then wrk.headers["Content-Type"] = "application/scim+json" end
end

if mode == "post-user" then
   function request()
      counter = counter + 1
      local name = string.format("load-%s-%d", run, counter)
      local body = '{"schemas":["urn:ietf:params:scim:schemas:core:2.0:User"],"userName":"' .. name ..
         '@scale.test","name":{"givenName":"Load","familyName":"' .. name .. '"},"active":true}'
      return wrk.format("POST", wrk.path, nil, body)
   end
end

function done(summary, latency, requests)
   local e = summary.errors
   local secs = summary.duration / 1e6
   io.write(string.format(
      'WRKJSON {"requests":%d,"rps":%.1f,"mean_ms":%.3f,"p50_ms":%.3f,"p99_ms":%.3f,"errors":%d}\n',
      summary.requests, summary.requests / secs, latency.mean / 1000, latency:percentile(50) / 1000,
      latency:percentile(99) / 1000, e.connect + e.read + e.write + e.status + e.timeout))
end
