namespace IfApi.Tests;

/// <summary>
/// A test class that talks to the service over HTTP, through the real start-up path, on one store
/// shared by the class's tests (so each test works on names of its own).
/// </summary>
public abstract class ApiTests<TStore> : IClassFixture<TStore>, IDisposable where TStore : StoreFixture
{
    protected ApiTests(TStore store, params (string Key, string Value)[] settings)
    {
        Store = store;
        Factory = store.NewFactory(settings);
        Client = Factory.CreateClient();
    }

    protected TStore Store { get; }
    protected IfApiFactory Factory { get; }
    protected HttpClient Client { get; }

    public void Dispose()
    {
        Client.Dispose();
        Factory.Dispose();
        GC.SuppressFinalize(this);
    }
}
