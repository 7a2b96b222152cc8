using System.Text.Json.Nodes;

namespace IfApi.Tests;

public sealed class OpenApiTests(SqliteStore store) : IClassFixture<SqliteStore>
{
    [Fact]
    public async Task The_committed_openapi_document_is_the_one_the_service_serves()
    {
        using var factory = store.NewFactory();
        using var http = factory.CreateClient();
        var served = JsonNode.Parse(await http.GetStringAsync("/swagger/v1/swagger.json"));
        var committed = JsonNode.Parse(await File.ReadAllTextAsync(Path.Combine(RepositoryRoot(), "openapi", "v1.json")));
        Assert.True(JsonNode.DeepEquals(served, committed), "openapi/v1.json is stale: build src/IfApi and commit it");
    }

    [Fact]
    public async Task Every_operation_of_a_stack_is_documented_in_the_callers_vnet_and_in_a_named_one()
    {
        using var factory = store.NewFactory();
        using var http = factory.CreateClient();
        var doc = JsonNode.Parse(await http.GetStringAsync("/swagger/v1/swagger.json"))!;
        var paths = doc["paths"]!.AsObject();
        Assert.NotNull(paths["/v1/vnets"]?["post"]);
        Assert.NotNull(paths["/v1/vnets/{vnet}"]?["delete"]);
        var stack = paths.Where(p => p.Key.StartsWith("/v1/", StringComparison.Ordinal) && !p.Key.StartsWith("/v1/vnets", StringComparison.Ordinal)).ToList();
        Assert.Contains(stack, p => p.Key == "/v1/interfaces/{ref}");
        foreach (var (path, item) in stack)
        {
            var named = paths["/v1/vnets/{vnet}" + path[3..]]?.AsObject();
            Assert.True(named is not null, $"{path} has no /v1/vnets/{{vnet}} twin");
            foreach (var (method, op) in item!.AsObject())
            {
                var twin = named![method];
                Assert.True(twin is not null, $"{method} {path} has no twin in a named vnet");
                Assert.Equal(op!["operationId"]!.GetValue<string>() + "InVnet", twin!["operationId"]!.GetValue<string>());
                var vnet = twin["parameters"]!.AsArray().Single(x => x!["name"]!.GetValue<string>() == "vnet")!;
                Assert.Equal(("path", true), (vnet["in"]!.GetValue<string>(), vnet["required"]!.GetValue<bool>()));
            }
        }
    }

    [Fact]
    public async Task Every_operation_has_an_id_a_summary_and_its_problems()
    {
        using var factory = store.NewFactory();
        using var http = factory.CreateClient();
        var doc = JsonNode.Parse(await http.GetStringAsync("/swagger/v1/swagger.json"))!;
        var operations = doc["paths"]!.AsObject().SelectMany(p => p.Value!.AsObject().Select(o => (Path: p.Key, Method: o.Key, Op: o.Value!))).ToList();
        Assert.NotEmpty(operations);
        foreach (var (path, method, op) in operations)
        {
            Assert.False(string.IsNullOrEmpty(op["operationId"]?.GetValue<string>()), $"{method} {path} has no operationId");
            Assert.False(string.IsNullOrEmpty(op["summary"]?.GetValue<string>()), $"{method} {path} has no summary");
            if (path.StartsWith("/v1/", StringComparison.Ordinal))
                Assert.True(op["responses"]!.AsObject().Any(r => r.Key.StartsWith('4') || r.Key.StartsWith('5')), $"{method} {path} documents no error response");
        }
    }

    internal static string RepositoryRoot()
    {
        var dir = new DirectoryInfo(AppContext.BaseDirectory);
        while (dir is not null && !File.Exists(Path.Combine(dir.FullName, "IfApi.sln")))
            dir = dir.Parent;
        return dir?.FullName ?? throw new InvalidOperationException("IfApi.sln not found above the test binaries");
    }
}
