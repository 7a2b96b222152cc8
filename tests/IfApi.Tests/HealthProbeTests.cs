using IfApi.Health;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.Extensions.DependencyInjection;

namespace IfApi.Tests;

/// <summary><c>dotnet IfApi.dll --healthcheck</c>, as the container health check runs it.</summary>
public sealed class HealthProbeTests(SqliteStore store) : IClassFixture<SqliteStore>
{
    [Fact]
    public async Task The_probe_passes_against_a_running_service_and_fails_without_one()
    {
        using var factory = store.NewFactory();
        factory.UseKestrel(0);
        factory.StartServer();
        var address = factory.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses.First();
        Assert.Equal(0, await HealthProbe.RunAsync(address));
        Assert.Equal(0, await HealthProbe.RunAsync(address.Replace("127.0.0.1", "+", StringComparison.Ordinal).Replace("localhost", "+", StringComparison.Ordinal)));

        var port = new Uri(address).Port;
        factory.Dispose();
        Assert.Equal(1, await HealthProbe.RunAsync($"http://127.0.0.1:{port}"));
    }
}
