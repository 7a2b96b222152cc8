using IfApi.Store;
using Microsoft.EntityFrameworkCore;
using Microsoft.EntityFrameworkCore.Design;

namespace IfApi.Migrations.Postgres;

/// <summary>Lets <c>dotnet ef</c> build the model for PostgreSQL without a server.</summary>
public sealed class DesignTimeFactory : IDesignTimeDbContextFactory<IfDbContext>
{
    public IfDbContext CreateDbContext(string[] args) =>
        new(StoreSetup.Configure(new DbContextOptionsBuilder<IfDbContext>(), new StoreOptions { Provider = StoreProvider.Postgres, ConnectionString = "Host=localhost;Database=ifapi" }).Options);
}
