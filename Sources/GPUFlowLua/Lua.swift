import GPUFlowML
