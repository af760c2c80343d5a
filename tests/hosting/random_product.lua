-- random_product.lua - wrk script: GET /api/v1/products/{id} for random ids 1..1000; a unique
-- query string per request gets past the gateway's one-second micro-cache, so every read
-- reaches a catalog instance.
math.randomseed(os.time())
local n = 0
request = function()
	n = n + 1
	return wrk.format("GET", "/api/v1/products/" .. math.random(1, 1000) .. "?n=" .. n .. "-" .. math.random(1, 1e9))
end
