-- wrk script: PATCH the displayName of existing users, a new value per request, cycling
-- through the user ids in the file SCIM_IDS_FILE (one per line). Prints the same
-- "WRKJSON {...}" line as ../shared/bench/lib/scim.lua, so lib/report.py reads it.
local token = os.getenv("SCIM_TOKEN") or ""
local ids = {}
for line in io.lines(os.getenv("SCIM_IDS_FILE")) do
   if line ~= "" then table.insert(ids, line) end
end

local thread_no = 0
function setup(thread)
   thread_no = thread_no + 1
   thread:set("tid", thread_no)
end

local counter = 0
local headers = {
   ["Accept"] = "application/scim+json",
   ["Content-Type"] = "application/scim+json",
   ["Authorization"] = "Bearer " .. token,
}

function request()
   counter = counter + 1
   local id = ids[((counter * 7919 + (tid or 0) * 104729) % #ids) + 1]
   local body = '{"schemas":["urn:ietf:params:scim:api:messages:2.0:PatchOp"],"Operations":[' ..
      '{"op":"replace","path":"displayName","value":"Patched ' .. (tid or 0) .. '-' .. counter .. '"}]}'
   return wrk.format("PATCH", wrk.path .. "/" .. id, headers, body)
end

function done(summary, latency, requests)
   local e = summary.errors
   local secs = summary.duration / 1e6
   io.write(string.format(
      'WRKJSON {"requests":%d,"duration_s":%.3f,"rps":%.1f,"bytes":%d,' ..
      '"lat_mean_ms":%.3f,"lat_p50_ms":%.3f,"lat_p90_ms":%.3f,"lat_p99_ms":%.3f,"lat_max_ms":%.3f,' ..
      '"err_connect":%d,"err_read":%d,"err_write":%d,"err_status":%d,"err_timeout":%d}\n',
      summary.requests, secs, summary.requests / secs, summary.bytes,
      latency.mean / 1000, latency:percentile(50) / 1000, latency:percentile(90) / 1000,
      latency:percentile(99) / 1000, latency.max / 1000,
      e.connect, e.read, e.write, e.status, e.timeout))
end
