namespace IfApi;

/// <summary>
/// Process-wide runtime state the service sets in code, once, before anything is built. The runtime
/// settings that are fixed numbers live in Runtime.props instead.
/// </summary>
internal static class RuntimeSetup
{
    /// <summary>
    /// A transaction runs its statements synchronously while it holds a pool lock (see
    /// TransactionRunner.LockAsync in IfApi.Store); one such thread per held pool must not leave a
    /// small machine's thread pool (2 threads on 2 cores) short until it injects more, slowly.
    /// </summary>
    public static void RaiseMinThreads()
    {
        ThreadPool.GetMinThreads(out var workers, out var io);
        ThreadPool.SetMinThreads(Math.Max(workers, 8 * Environment.ProcessorCount), io);
    }
}
