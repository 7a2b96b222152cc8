namespace IfApi.Tests;

/// <summary>
/// Tests that look at the whole process (its meters, what it allocates), or whose service processes must
/// not be starved by other tests' load, run after the others, one at a time.
/// </summary>
[CollectionDefinition(nameof(Alone), DisableParallelization = true)]
public sealed class Alone;
