-- The demo pipeline's transform (scripts/demo): each sensor reading gets
-- its temperature in Fahrenheit and a flag for hot readings; readings of
-- the test sensor s-0 are dropped. See docs/operators.md.
function process(record)
  local v = record.value
  if v.sensor == "s-0" then
    return nil                      -- drop
  end
  v.temp_f = v.temp * 9 / 5 + 32
  v.hot = v.temp > 30
  return record                     -- key, headers and timestamp kept
end
