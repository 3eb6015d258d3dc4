-- A module beside the job: the sandbox finds it.
return {answer = 42}
