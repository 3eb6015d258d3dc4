-- expect: 3 sandbox: wall-time limit exceeded
-- Every turn of the loop is one slow C call (16 MB upper-cased), so the hook's instruction count
-- comes round only every few seconds: the watchdog makes it look at once.
local s = ("x"):rep(16000000)
while true do s:upper() end
