namespace IfApi.Tests;

/// <summary>Tests that look at the whole process (its meters, what it allocates) run after the others, one at a time.</summary>
[CollectionDefinition(nameof(Alone), DisableParallelization = true)]
public sealed class Alone;
