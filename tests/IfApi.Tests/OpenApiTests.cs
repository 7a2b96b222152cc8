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
